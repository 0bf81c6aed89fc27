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
	// replacing any unconfirmed one of theirs, with ev, in one transaction.
	CreateBackupCodeTicket(ctx context.Context, t BackupCodeTicket, ev Event) error
	// ConfirmBackupCodes spends the ticket and makes its codes the
	// operator's set, replacing any older set, records the set's time and
	// the login, and writes ev, atomically. It fails with ErrConsumed when
	// no unexpired ticket of this operator has the hash (confirmed already,
	// replaced by a newer set, expired, or someone else's).
	ConfirmBackupCodes(ctx context.Context, ticketHash []byte, operatorID string, now time.Time, ev Event) error
	// ReplaceBackupCodes gives the operator a new confirmed set at once
	// (their old codes stop working, unconfirmed sets are dropped), writes
	// ev, and returns their state.
	ReplaceBackupCodes(ctx context.Context, operatorID string, codeHashes [][]byte, now time.Time, ev Event) (contract.OperatorState, error)
	// RedeemBackupCode spends one of the operator's backup codes with one
	// conditional UPDATE (of concurrent calls with one code, one wins) and
	// records the second factor's time, the login and ev in the same
	// transaction. It fails with ErrNotFound (no such code of theirs) or
	// ErrUsed.
	RedeemBackupCode(ctx context.Context, operatorID string, codeHash []byte, now time.Time, ev Event) error
	// RedeemBypassCode takes one use of the operator's bypass code with one
	// conditional UPDATE (uses left, unexpired, unrevoked), records the
	// second factor's time and the login, and writes the event ev builds
	// from the code as it is after the use, in one transaction. It fails
	// with ErrNotFound, ErrUsed, ErrExpired or ErrRevoked.
	RedeemBypassCode(ctx context.Context, operatorID string, codeHash []byte, now time.Time, ev func(contract.BypassCode) Event) (contract.BypassCode, error)
	// SecondFactorAt is when the operator last proved their second factor
	// to the plugin (Duo's allow or a code); the zero time if never, or not
	// since their second factor was reset.
	SecondFactorAt(ctx context.Context, operatorID string) (time.Time, error)

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
	// DeleteExpiredBackupCodeTickets removes unconfirmed sets that expired
	// before now.
	DeleteExpiredBackupCodeTickets(ctx context.Context, now time.Time) (int64, error)
}
