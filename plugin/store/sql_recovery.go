package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
	"github.com/helpdesk-duo/duo-plugin/plugin/codes"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// CreateBackupCodeTicket implements RecoveryStore.
func (s *DB) CreateBackupCodeTicket(ctx context.Context, t BackupCodeTicket, ev Event) error {
	var joined bytes.Buffer
	for _, h := range t.CodeHashes {
		if len(h) != codes.HashLen {
			return fmt.Errorf("create backup code ticket: a code hash of %d bytes, want %d", len(h), codes.HashLen)
		}
		joined.Write(h)
	}
	return s.tx(ctx, "create backup code ticket", func(tx *txn) error {
		if err := noteSecondFactor(ctx, tx, t.OperatorID, t.CreatedAt, false, true); err != nil {
			return err
		}
		// Only the newest set shown can be confirmed: an older one may be
		// on a screen someone else saw. Everyone's expired sets go too: as
		// each operator has at most one, that is all the sweeping they need.
		if _, err := tx.ExecContext(ctx, `DELETE FROM backup_code_tickets WHERE operator_id = ? OR expires_at <= ?`,
			t.OperatorID, t.CreatedAt.Unix()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO backup_code_tickets (ticket_hash, operator_id, code_hashes, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			t.TicketHash, t.OperatorID, joined.Bytes(), t.CreatedAt.Unix(), t.ExpiresAt.Unix()); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// ConfirmBackupCodes implements RecoveryStore. The ticket is spent by one
// conditional DELETE … RETURNING: a confirmed set leaves no copy of its
// hashes behind, and of concurrent confirmations one wins.
func (s *DB) ConfirmBackupCodes(ctx context.Context, ticketHash []byte, operatorID string, now time.Time, ev Event) error {
	return s.tx(ctx, "confirm backup codes", func(tx *txn) error {
		var joined []byte
		err := tx.QueryRowContext(ctx, `DELETE FROM backup_code_tickets WHERE ticket_hash = ? AND operator_id = ? AND expires_at > ? RETURNING code_hashes`,
			ticketHash, operatorID, now.Unix()).Scan(&joined)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrConsumed
		}
		if err != nil {
			return err
		}
		if len(joined) == 0 || len(joined)%codes.HashLen != 0 {
			return fmt.Errorf("stored set of %d bytes is not whole %d-byte hashes", len(joined), codes.HashLen)
		}
		var hashes [][]byte
		for i := 0; i < len(joined); i += codes.HashLen {
			hashes = append(hashes, joined[i:i+codes.HashLen])
		}
		if err := replaceBackupCodes(ctx, tx, operatorID, hashes, now); err != nil {
			return err
		}
		return noteCodeLogin(ctx, tx, operatorID, now, ev)
	})
}

// replaceBackupCodes makes hashes the operator's whole set, issued now.
func replaceBackupCodes(ctx context.Context, tx *txn, operatorID string, hashes [][]byte, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM backup_codes WHERE operator_id = ?`, operatorID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO backup_codes (operator_id, code_hash) VALUES (?, ?)`, operatorID, h); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE operators SET backup_codes_issued_at = ? WHERE id = ?`, now.Unix(), operatorID)
	return err
}

// ReplaceBackupCodes implements RecoveryStore.
func (s *DB) ReplaceBackupCodes(ctx context.Context, operatorID string, codeHashes [][]byte, factorSince, now time.Time, ev Event) (contract.OperatorState, error) {
	var out contract.OperatorState
	err := s.tx(ctx, "replace backup codes", func(tx *txn) error {
		var factor, issued sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT duo_factor_at, backup_codes_issued_at FROM operators WHERE id = ?`, operatorID).Scan(&factor, &issued)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		switch {
		case !factor.Valid || unixOrZero(factor).Before(factorSince):
			return ErrFactorNotRecent
		case !issued.Valid:
			return ErrNoBackupCodes
		}
		if err := replaceBackupCodes(ctx, tx, operatorID, codeHashes, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM backup_code_tickets WHERE operator_id = ?`, operatorID); err != nil {
			return err
		}
		if err := appendEvent(ctx, tx, ev); err != nil {
			return err
		}
		out, err = getOperator(ctx, tx, operatorID)
		return err
	})
	return out, err
}

// redeemCode is RedeemCode inside tx.
func redeemCode(ctx context.Context, tx *txn, operatorID string, backupHash, bypassHash []byte, now time.Time, ev func(Redemption) Event) (Redemption, error) {
	var out Redemption
	err := func() error {
		backupErr, bypassErr := ErrNotFound, ErrNotFound
		if backupHash != nil {
			switch backupErr = redeemBackupCode(ctx, tx, operatorID, backupHash, now); {
			case backupErr == nil:
				out = Redemption{Kind: BackupCode}
				return noteCodeLogin(ctx, tx, operatorID, now, ev(out))
			case !errors.Is(backupErr, ErrNotFound) && !errors.Is(backupErr, ErrUsed):
				return backupErr // the database failed: try nothing else
			}
		}
		if bypassHash != nil {
			var b contract.BypassCode
			if b, bypassErr = redeemBypassCode(ctx, tx, operatorID, bypassHash, now); bypassErr == nil {
				out = Redemption{Kind: BypassCode, Bypass: b}
				return noteCodeLogin(ctx, tx, operatorID, now, ev(out))
			}
		}
		switch {
		case !errors.Is(bypassErr, ErrNotFound):
			out.Kind = BypassCode
			return bypassErr
		case !errors.Is(backupErr, ErrNotFound):
			out.Kind = BackupCode
			return backupErr
		}
		return ErrNotFound
	}()
	return out, err
}

// redeemBackupCode spends one of the operator's backup codes with one
// conditional UPDATE, or says why not (ErrNotFound, ErrUsed).
func redeemBackupCode(ctx context.Context, tx *txn, operatorID string, codeHash []byte, now time.Time) error {
	n, err := execCount(ctx, tx, `UPDATE backup_codes SET used_at = ? WHERE operator_id = ? AND code_hash = ? AND used_at IS NULL`,
		now.Unix(), operatorID, codeHash)
	if err != nil || n == 1 {
		return err
	}
	var used sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT used_at FROM backup_codes WHERE operator_id = ? AND code_hash = ?`, operatorID, codeHash).Scan(&used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	}
	return ErrUsed
}

// noteCodeLogin records a sign-in by a code: the second factor's time and
// the login in one UPDATE, and its event.
func noteCodeLogin(ctx context.Context, tx *txn, operatorID string, now time.Time, ev Event) error {
	if err := noteSecondFactor(ctx, tx, operatorID, now, true, false); err != nil {
		return err
	}
	return appendEvent(ctx, tx, ev)
}

const bypassColumns = `id, operator_id, issued_by, issued_at, uses_left, expires_at, revoked_at`

func scanBypass(sc sqldb.Scanner) (contract.BypassCode, error) {
	var (
		b               contract.BypassCode
		issued, expires int64
		revoked         sql.NullInt64
		usesLeft        int64
	)
	if err := sc.Scan(&b.ID, &b.OperatorID, &b.IssuedBy, &issued, &usesLeft, &expires, &revoked); err != nil {
		return b, err
	}
	b.IssuedAt, b.ExpiresAt, b.RevokedAt = time.Unix(issued, 0).UTC(), time.Unix(expires, 0).UTC(), unixOrZero(revoked)
	b.UsesLeft = int32(usesLeft)
	return b, nil
}

// redeemBypassCode takes one use of the operator's bypass code with one
// conditional UPDATE (uses left, unexpired, unrevoked) and returns it as
// it is after the use, or says why not.
func redeemBypassCode(ctx context.Context, tx *txn, operatorID string, codeHash []byte, now time.Time) (contract.BypassCode, error) {
	b, err := scanBypass(tx.QueryRowContext(ctx, `UPDATE bypass_codes SET uses_left = uses_left - 1
		WHERE operator_id = ? AND code_hash = ? AND uses_left > 0 AND expires_at > ? AND revoked_at IS NULL
		RETURNING `+bypassColumns, operatorID, codeHash, now.Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return b, explainBypass(ctx, tx, operatorID, codeHash, now)
	}
	return b, err
}

// explainBypass says why a bypass code could not be used: revoked wins
// over expired, which wins over used up, as that is what the admin did
// last or what the operator can least fix.
func explainBypass(ctx context.Context, tx *txn, operatorID string, codeHash []byte, now time.Time) error {
	b, err := scanBypass(tx.QueryRowContext(ctx, `SELECT `+bypassColumns+` FROM bypass_codes WHERE operator_id = ? AND code_hash = ?`, operatorID, codeHash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return err
	case !b.RevokedAt.IsZero():
		return ErrRevoked
	case !now.Before(b.ExpiresAt):
		return ErrExpired
	case b.UsesLeft <= 0:
		return ErrUsed
	}
	return ErrConsumed
}

// IssueBypassCode implements RecoveryStore.
func (s *DB) IssueBypassCode(ctx context.Context, op contract.Operator, b contract.BypassCode, codeHash []byte, ev Event) error {
	err := s.tx(ctx, "issue bypass code", func(tx *txn) error {
		if err := upsertOperator(ctx, tx, op, ev); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO bypass_codes (id, operator_id, code_hash, issued_by, issued_at, uses_left, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			b.ID, op.ID, codeHash, b.IssuedBy, b.IssuedAt.Unix(), b.UsesLeft, b.ExpiresAt.Unix()); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("issue bypass code: %w", ErrDuplicate)
	}
	return err
}

// ListBypassCodes implements RecoveryStore.
func (s *DB) ListBypassCodes(ctx context.Context, operatorID string) ([]contract.BypassCode, error) {
	out, err := sqldb.Query(ctx, s.rd, scanBypass,
		`SELECT `+bypassColumns+` FROM bypass_codes WHERE operator_id = ? ORDER BY `+s.dialect.bypassOrder(), operatorID)
	if err != nil {
		return nil, fmt.Errorf("list bypass codes: %w", err)
	}
	return out, nil
}

// RevokeBypassCode implements RecoveryStore.
func (s *DB) RevokeBypassCode(ctx context.Context, operatorID, id string, now time.Time, ev Event) (contract.BypassCode, error) {
	var out contract.BypassCode
	err := s.tx(ctx, "revoke bypass code", func(tx *txn) error {
		b, err := scanBypass(tx.QueryRowContext(ctx, `UPDATE bypass_codes SET revoked_at = ? WHERE id = ? AND operator_id = ? AND revoked_at IS NULL
			RETURNING `+bypassColumns, now.Unix(), id, operatorID))
		if errors.Is(err, sql.ErrNoRows) {
			// Revoked already, or not this operator's.
			out, err = scanBypass(tx.QueryRowContext(ctx, `SELECT `+bypassColumns+` FROM bypass_codes WHERE id = ? AND operator_id = ?`, id, operatorID))
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if err != nil {
			return err
		}
		out = b
		return appendEvent(ctx, tx, ev)
	})
	return out, err
}

// CreateRecoveryLink implements RecoveryStore.
func (s *DB) CreateRecoveryLink(ctx context.Context, op contract.Operator, l RecoveryLink, ev Event) error {
	return s.tx(ctx, "create recovery link", func(tx *txn) error {
		if err := upsertOperator(ctx, tx, op, ev); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_links (token_hash, operator_id, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			l.TokenHash, op.ID, l.CreatedBy, l.CreatedAt.Unix(), l.ExpiresAt.Unix()); err != nil {
			return err
		}
		return appendEvent(ctx, tx, ev)
	})
}

// RedeemRecoveryLink implements RecoveryStore.
func (s *DB) RedeemRecoveryLink(ctx context.Context, tokenHash []byte, operatorID string, now time.Time, ev Event) error {
	return s.tx(ctx, "redeem recovery link", func(tx *txn) error {
		if err := refuseIfLocked(ctx, tx, operatorID, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE recovery_links SET used_at = ?
			WHERE token_hash = ? AND operator_id = ? AND used_at IS NULL AND expires_at > ?`, now.Unix(), tokenHash, operatorID, now.Unix())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			var expires int64
			var used sql.NullInt64
			err := tx.QueryRowContext(ctx, `SELECT expires_at, used_at FROM recovery_links WHERE token_hash = ? AND operator_id = ?`,
				tokenHash, operatorID).Scan(&expires, &used)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return ErrNotFound
			case err != nil:
				return err
			case used.Valid:
				return ErrUsed
			case expires <= now.Unix():
				return ErrExpired
			}
			return ErrConsumed
		}
		// The reset: nothing of the old second factor keeps working.
		id, at := []any{operatorID}, []any{operatorID, now.Unix()} // PostgreSQL wants exactly the arguments used
		for _, st := range []struct {
			q    string
			args []any
		}{
			// The link signs the operator in, but is no second factor: it
			// never allows RegenerateBackupCodes.
			{`UPDATE operators SET enrolled_at = NULL, second_factor_at = NULL, duo_factor_at = NULL, backup_codes_issued_at = NULL, last_login_at = ?2, ` + resetFailures2 + ` WHERE id = ?1`, at},
			{`DELETE FROM backup_codes WHERE operator_id = ?1`, id},
			{`DELETE FROM backup_code_tickets WHERE operator_id = ?1`, id},
			{`UPDATE bypass_codes SET revoked_at = ?2 WHERE operator_id = ?1 AND revoked_at IS NULL`, at},
			// Other links were sent for the same loss, which is now mended.
			{`UPDATE recovery_links SET used_at = ?2 WHERE operator_id = ?1 AND used_at IS NULL`, at},
		} {
			if _, err := tx.ExecContext(ctx, st.q, st.args...); err != nil {
				return err
			}
		}
		return appendEvent(ctx, tx, ev)
	})
}

// Notices implements RecoveryStore.
func (s *DB) Notices(ctx context.Context, afterID int64, limit int) ([]contract.Notice, error) {
	out, err := sqldb.Query(ctx, s.rd, func(sc sqldb.Scanner) (contract.Notice, error) {
		var (
			n                    contract.Notice
			at                   int64
			kind, actor, actorID string
		)
		err := sc.Scan(&n.ID, &at, &n.OperatorID, &kind, &actor, &actorID)
		n.At, n.Kind = time.Unix(at, 0).UTC(), contract.NoticeKind(kind)
		if actorID != n.OperatorID {
			n.Actor = actor
		}
		return n, err
	}, `SELECT id, at, operator_id, notice, actor, actor_id FROM audit_events WHERE notice != '' AND id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("notices: %w", err)
	}
	return out, nil
}
