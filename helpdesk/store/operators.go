package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/helpdesk-duo/duo-plugin/internal/secret"
	"github.com/helpdesk-duo/duo-plugin/internal/sqldb"
)

// Roles of an operator.
const (
	RoleAdmin    = "admin"    // everything
	RoleHelpDesk = "helpdesk" // every operator's second factor and bypass codes; no settings
	RoleAgent    = "agent"    // their own account
)

// Operator is a helpdesk operator (an agent or an admin).
type Operator struct {
	ID           int64
	Username     string
	Email        string
	DisplayName  string
	Role         string
	PasswordHash secret.Value
	// TOTPSecret is the base32 secret of the built-in two-factor method;
	// empty if none. It applies only once TOTPConfirmed.
	TOTPSecret    secret.Value
	TOTPConfirmed bool
	TOTPLastStep  int64
	CreatedAt     time.Time
	// ServiceAccount marks an API or service account: a program, not a
	// person, signs in with it. The plugin exempts it from Duo only while
	// its settings allow that.
	ServiceAccount bool
}

// IsAdmin reports whether the operator may administer the helpdesk.
func (o Operator) IsAdmin() bool { return o.Role == RoleAdmin }

// IsStaff reports whether the operator may look after others' second
// factors: an admin or the help desk.
func (o Operator) IsStaff() bool { return o.Role == RoleAdmin || o.Role == RoleHelpDesk }

// HasTOTP reports whether the built-in two-factor method applies.
func (o Operator) HasTOTP() bool { return o.TOTPConfirmed && o.TOTPSecret.IsSet() }

// Name is the display name, or the username when there is none.
func (o Operator) Name() string {
	if o.DisplayName != "" {
		return o.DisplayName
	}
	return o.Username
}

// NewOperator is the argument of CreateOperator.
type NewOperator struct {
	Username     string
	Email        string
	DisplayName  string
	Role         string
	PasswordHash string
	// ServiceAccount: see Operator.ServiceAccount.
	ServiceAccount bool
}

const operatorColumns = `id, username, email, display_name, role, password_hash, totp_secret, totp_confirmed, totp_last_step, created_at, service_account`

func scanOperator(row sqldb.Scanner) (Operator, error) {
	var o Operator
	var hash, totpSecret string
	var confirmed, service int
	var created int64
	err := row.Scan(&o.ID, &o.Username, &o.Email, &o.DisplayName, &o.Role, &hash, &totpSecret, &confirmed, &o.TOTPLastStep, &created, &service)
	if err != nil {
		return Operator{}, err
	}
	o.ServiceAccount = service == 1
	o.PasswordHash, o.TOTPSecret, o.TOTPConfirmed, o.CreatedAt = secret.Value(hash), secret.Value(totpSecret), confirmed == 1, fromUnix(created)
	return o, nil
}

// CreateOperator adds an operator. A taken username is ErrDuplicate.
func (s *Store) CreateOperator(ctx context.Context, n NewOperator) (Operator, error) {
	n.Username = strings.TrimSpace(n.Username)
	if n.Username == "" {
		return Operator{}, errors.New("create operator: username is required")
	}
	if n.Role != RoleAdmin && n.Role != RoleHelpDesk && n.Role != RoleAgent {
		return Operator{}, fmt.Errorf("create operator: role %q is not admin, helpdesk or agent", n.Role)
	}
	if n.PasswordHash == "" {
		return Operator{}, errors.New("create operator: password hash is required")
	}
	// RETURNING (SQLite 3.35+, PostgreSQL): one text for both engines,
	// where LastInsertId is SQLite's alone.
	var id int64
	err := s.db.QueryRowContext(ctx,
		`INSERT INTO operators (username, email, display_name, role, password_hash, created_at, service_account) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		n.Username, strings.TrimSpace(n.Email), strings.TrimSpace(n.DisplayName), n.Role, n.PasswordHash, unix(s.now()), b2i(n.ServiceAccount)).Scan(&id)
	if isUniqueViolation(err) {
		return Operator{}, fmt.Errorf("create operator %q: %w", n.Username, ErrDuplicate)
	}
	if err != nil {
		return Operator{}, fmt.Errorf("create operator %q: %w", n.Username, err)
	}
	return s.OperatorByID(ctx, id)
}

// OperatorByID returns one operator, or ErrNotFound.
func (s *Store) OperatorByID(ctx context.Context, id int64) (Operator, error) {
	o, err := scanOperator(s.db.QueryRowContext(ctx, `SELECT `+operatorColumns+` FROM operators WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Operator{}, fmt.Errorf("operator %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Operator{}, fmt.Errorf("operator %d: %w", id, err)
	}
	return o, nil
}

// OperatorByUsername returns one operator (usernames compare without
// regard to case: lower() on both engines, which PostgreSQL's unique index
// on lower(username) serves; usernames are ASCII), or ErrNotFound.
func (s *Store) OperatorByUsername(ctx context.Context, username string) (Operator, error) {
	o, err := scanOperator(s.db.QueryRowContext(ctx, `SELECT `+operatorColumns+` FROM operators WHERE lower(username) = lower(?)`, strings.TrimSpace(username)))
	if errors.Is(err, sql.ErrNoRows) {
		return Operator{}, fmt.Errorf("operator %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return Operator{}, fmt.Errorf("operator %q: %w", username, err)
	}
	return o, nil
}

// ListOperators returns every operator, by username.
func (s *Store) ListOperators(ctx context.Context) ([]Operator, error) {
	out, err := sqldb.Query(ctx, s.db, scanOperator, `SELECT `+operatorColumns+` FROM operators ORDER BY lower(username)`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return out, nil
}

func (s *Store) execOne(ctx context.Context, what string, query string, args ...any) error {
	changed, err := s.execChanged(ctx, what, query, args...)
	if err == nil && !changed {
		err = fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return err
}

// execChanged runs one conditional statement and reports whether it
// changed a row: of callers racing on the same row, exactly one sees true
// (single-use steps, leases), on either engine.
func (s *Store) execChanged(ctx context.Context, what string, query string, args ...any) (bool, error) {
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return n > 0, nil
}

// SetPassword replaces an operator's password hash.
func (s *Store) SetPassword(ctx context.Context, id int64, hash string) error {
	return s.execOne(ctx, fmt.Sprintf("set password of operator %d", id),
		`UPDATE operators SET password_hash = ? WHERE id = ?`, hash, id)
}

// SetServiceAccount marks an operator as a service account, or not.
func (s *Store) SetServiceAccount(ctx context.Context, id int64, service bool) error {
	return s.execOne(ctx, fmt.Sprintf("set service account of operator %d", id),
		`UPDATE operators SET service_account = ? WHERE id = ?`, b2i(service), id)
}

// SetTOTP stores a TOTP secret for an operator, confirmed or not; a new
// secret resets the replay guard.
func (s *Store) SetTOTP(ctx context.Context, id int64, totpSecret string, confirmed bool) error {
	return s.execOne(ctx, fmt.Sprintf("set totp of operator %d", id),
		`UPDATE operators SET totp_secret = ?, totp_confirmed = ?, totp_last_step = 0 WHERE id = ?`, totpSecret, b2i(confirmed), id)
}

// ConfirmTOTP marks the operator's stored secret confirmed, recording step
// as used. It fails with ErrNotFound if the stored secret is not totpSecret
// (it was replaced meanwhile).
func (s *Store) ConfirmTOTP(ctx context.Context, id int64, totpSecret string, step int64) error {
	return s.execOne(ctx, fmt.Sprintf("confirm totp of operator %d", id),
		`UPDATE operators SET totp_confirmed = 1, totp_last_step = ? WHERE id = ? AND totp_secret = ? AND totp_secret <> ''`, step, id, totpSecret)
}

// ClearTOTP removes the operator's TOTP method.
func (s *Store) ClearTOTP(ctx context.Context, id int64) error {
	return s.SetTOTP(ctx, id, "", false)
}

// UseTOTPStep records that the code of time step was used by operator id,
// and reports false when that step (or a later one) was already used: a
// TOTP code is accepted at most once.
func (s *Store) UseTOTPStep(ctx context.Context, id int64, step int64) (bool, error) {
	return s.execChanged(ctx, fmt.Sprintf("use totp step of operator %d", id),
		`UPDATE operators SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?`, step, id, step)
}
