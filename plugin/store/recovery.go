package store

import (
	"context"
	"time"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// BackupCodeTicket is a set of backup codes shown to an operator and
// awaiting their confirmation; until then none of them works.
type BackupCodeTicket struct {
	TicketHash []byte
	OperatorID string
	CodeHashes [][]byte
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// CodeKind is a kind of code an operator types instead of Duo.
type CodeKind int

// Kinds of code.
const (
	BackupCode CodeKind = iota + 1
	BypassCode
)

// Redemption is what RedeemCode spent, or the code its refusal is about.
type Redemption struct {
	// Kind is the kind of code spent or refused; 0 when no code of the
	// operator's matched.
	Kind CodeKind
	// Bypass is the bypass code as it is after the use (Kind BypassCode,
	// spent).
	Bypass contract.BypassCode
}

// RecoveryLink is a single-use link an administrator sends an operator who
// lost their second factor.
type RecoveryLink struct {
	TokenHash  []byte
	OperatorID string
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// RecoveryStore keeps what brings back an operator who lost their second
// factor. Codes, tokens and tickets arrive as keyed hashes (plugin/codes)
// and only those are stored. Every method that changes an operator's
// second factor writes its audit event in the same transaction, so an
// event (and its notice) exists exactly when the change does.
type RecoveryStore interface {
	// CreateBackupCodeTicket records Duo's allow for an operator who has no
	// confirmed backup codes (the second factor's time; the first enrolment
	// with its notice) and keeps the set shown to them under its ticket,
	// replacing any unconfirmed one of theirs and dropping everyone's that
	// expired by t.CreatedAt, with ev, in one transaction.
	CreateBackupCodeTicket(ctx context.Context, t BackupCodeTicket, ev Event) error
	// ConfirmBackupCodes spends the ticket and makes its codes the
	// operator's set, replacing any older set, records the set's time and
	// the login, and writes ev, atomically. It fails with ErrConsumed when
	// no unexpired ticket of this operator has the hash (confirmed already,
	// replaced by a newer set, expired, or someone else's).
	ConfirmBackupCodes(ctx context.Context, ticketHash []byte, operatorID string, now time.Time, ev Event) error
	// ReplaceBackupCodes gives the operator a new confirmed set at once
	// (their old codes stop working, unconfirmed sets are dropped), writes
	// ev, and returns their state, provided, in the same transaction, that
	// they signed in with Duo at or after factorSince (a code is not
	// enough: else
	// ErrFactorNotRecent) and have a set already (else ErrNoBackupCodes),
	// so that a reset landing meanwhile is never undone.
	ReplaceBackupCodes(ctx context.Context, operatorID string, codeHashes [][]byte, factorSince, now time.Time, ev Event) (contract.OperatorState, error)

	// IssueBypassCode stores a bypass code for op (creating op's row if
	// needed) with ev. A code hash already stored fails with ErrDuplicate.
	IssueBypassCode(ctx context.Context, op contract.Operator, b contract.BypassCode, codeHash []byte, ev Event) error
	// ListBypassCodes lists the operator's bypass codes, newest first.
	ListBypassCodes(ctx context.Context, operatorID string) ([]contract.BypassCode, error)
	// RevokeBypassCode revokes one of the operator's bypass codes (once:
	// revoking again changes nothing and writes no event) and returns it;
	// ErrNotFound if the operator has no code with that id.
	RevokeBypassCode(ctx context.Context, operatorID, id string, now time.Time, ev Event) (contract.BypassCode, error)

	// CreateRecoveryLink stores a recovery link for op (creating op's row
	// if needed) with ev.
	CreateRecoveryLink(ctx context.Context, op contract.Operator, l RecoveryLink, ev Event) error
	// RedeemRecoveryLink spends the operator's link with one conditional
	// UPDATE and, in the same transaction, signs them in (last login) and
	// resets their second factor: enrolment and second-factor time
	// forgotten, backup codes and unconfirmed sets deleted, bypass codes
	// revoked, their other links spent; writes ev. It fails with ErrNotFound (no such link of theirs),
	// ErrUsed or ErrExpired, changing nothing.
	RedeemRecoveryLink(ctx context.Context, tokenHash []byte, operatorID string, now time.Time, ev Event) error

	// Notices returns up to limit events that are notices, with id >
	// afterID, oldest first. A notice names its actor only when someone
	// other than the operator acted.
	Notices(ctx context.Context, afterID int64, limit int) ([]contract.Notice, error)
}
