package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
)

// Kinds of session.
const (
	// SessionAnonymous exists before the password: it carries the CSRF
	// token of the sign-in form.
	SessionAnonymous = "anonymous"
	// SessionPending: the password was right; the second factor is under
	// way (SecondFactor says which).
	SessionPending = "pending"
	// SessionAuthenticated: signed in.
	SessionAuthenticated = "authenticated"
)

// Second factors of a pending session.
const (
	FactorDuo  = "duo"
	FactorTOTP = "totp"
	// FactorCode: a backup or bypass code instead of Duo, after a refusal.
	FactorCode = "code"
	// FactorBackupCodes: Duo vouched; the operator confirms their first
	// backup codes before the sign-in completes.
	FactorBackupCodes = "backup_codes"
)

// Session is a server-side session. The cookie carries the random id; the
// database only its hash.
type Session struct {
	IDHash       []byte
	Kind         string
	OperatorID   int64 // 0 for anonymous sessions
	SecondFactor string
	// DuoState is what BeginLogin returned, for CompleteLogin.
	DuoState  secret.Value
	NextPath  string
	CSRFToken secret.Value
	// BackupTicket is the plugin's ticket that issues the backup codes a
	// FactorBackupCodes session shows (the codes are never stored).
	BackupTicket secret.Value
	Flash        string
	FlashKind    string
	CreatedAt    time.Time
	LastSeenAt   time.Time
	ExpiresAt    time.Time
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, ses Session) error {
	var op any
	if ses.OperatorID != 0 {
		op = ses.OperatorID
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions
		(id_hash, kind, operator_id, second_factor, duo_state, next_path, csrf_token, flash, flash_kind, created_at, last_seen_at, expires_at,
		 backup_ticket)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ses.IDHash, ses.Kind, op, ses.SecondFactor, ses.DuoState.Reveal(), ses.NextPath, ses.CSRFToken.Reveal(),
		ses.Flash, ses.FlashKind, unix(ses.CreatedAt), unix(ses.LastSeenAt), unix(ses.ExpiresAt),
		ses.BackupTicket.Reveal())
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionByHash returns the unexpired session with this id hash, or
// ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, idHash []byte, now time.Time) (Session, error) {
	var ses Session
	var op sql.NullInt64
	var duoState, csrf, ticket string
	var created, seen, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT id_hash, kind, operator_id, second_factor, duo_state, next_path, csrf_token,
		flash, flash_kind, created_at, last_seen_at, expires_at, backup_ticket FROM sessions WHERE id_hash = ? AND expires_at > ?`,
		idHash, unix(now)).Scan(&ses.IDHash, &ses.Kind, &op, &ses.SecondFactor, &duoState, &ses.NextPath, &csrf,
		&ses.Flash, &ses.FlashKind, &created, &seen, &expires, &ticket)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	ses.OperatorID = op.Int64
	ses.DuoState, ses.CSRFToken = secret.Value(duoState), secret.Value(csrf)
	ses.BackupTicket = secret.Value(ticket)
	ses.CreatedAt, ses.LastSeenAt, ses.ExpiresAt = fromUnix(created), fromUnix(seen), fromUnix(expires)
	return ses, nil
}

// DeleteSession removes a session; deleting a missing one is not an error.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// TakeSession deletes the session and reports whether this call was the
// one that deleted it, so that a pending login is used at most once.
func (s *Store) TakeSession(ctx context.Context, idHash []byte) (bool, error) {
	return s.execChanged(ctx, "take session", `DELETE FROM sessions WHERE id_hash = ?`, idHash)
}

// TouchSession records activity and moves the (idle) expiry.
func (s *Store) TouchSession(ctx context.Context, idHash []byte, seen, expires time.Time) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id_hash = ?`,
		unix(seen), unix(expires), idHash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// SetFlash stores a one-time message shown on the session's next page.
func (s *Store) SetFlash(ctx context.Context, idHash []byte, kind, msg string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET flash = ?, flash_kind = ? WHERE id_hash = ?`, msg, kind, idHash); err != nil {
		return fmt.Errorf("set flash: %w", err)
	}
	return nil
}

// ClearFlash removes the session's one-time message.
func (s *Store) ClearFlash(ctx context.Context, idHash []byte) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET flash = '', flash_kind = '' WHERE id_hash = ? AND flash <> ''`, idHash); err != nil {
		return fmt.Errorf("clear flash: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions expired at now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, unix(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}

// DeleteOperatorSessions signs an operator out everywhere.
func (s *Store) DeleteOperatorSessions(ctx context.Context, operatorID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE operator_id = ?`, operatorID); err != nil {
		return fmt.Errorf("delete sessions of operator %d: %w", operatorID, err)
	}
	return nil
}

// Scopes of failed sign-in records.
const (
	ScopeUser = "user"
	ScopeIP   = "ip"
)

// RecordFailure records one failed sign-in step.
func (s *Store) RecordFailure(ctx context.Context, scope, key string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO login_failures (scope, key, at) VALUES (?, ?, ?)`, scope, key, unix(at)); err != nil {
		return fmt.Errorf("record failed sign-in: %w", err)
	}
	return nil
}

// CountFailures counts failed sign-in steps for key since a time.
func (s *Store) CountFailures(ctx context.Context, scope, key string, since time.Time) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM login_failures WHERE scope = ? AND key = ? AND at > ?`,
		scope, key, unix(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count failed sign-ins: %w", err)
	}
	return n, nil
}

// ClearFailures forgets the failed sign-ins for key.
func (s *Store) ClearFailures(ctx context.Context, scope, key string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE scope = ? AND key = ?`, scope, key); err != nil {
		return fmt.Errorf("clear failed sign-ins: %w", err)
	}
	return nil
}

// DeleteFailuresBefore forgets failed sign-ins older than a time.
func (s *Store) DeleteFailuresBefore(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM login_failures WHERE at <= ?`, unix(before))
	if err != nil {
		return 0, fmt.Errorf("delete old failed sign-ins: %w", err)
	}
	return res.RowsAffected()
}
