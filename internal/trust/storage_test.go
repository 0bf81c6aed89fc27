package trust

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the plugin's driver, to fault its database from outside

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/plugindb"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// openPluginDB opens the plugin's database as another process would (a
// second connection to the same file, the plugin still running).
func (e *env) openPluginDB() *sql.DB {
	e.t.Helper()
	return plugindb.Open(e.t, filepath.Join(e.dataDir, "duo.db"))
}

// wantStorageError fails unless err is the plugin's storage failure,
// raised while doing what, and res decided nothing.
func wantStorageError(t *testing.T, call, what string, d contract.LoginDecision, err error) {
	t.Helper()
	var ce *contract.Error
	if !errors.As(err, &ce) || ce.Reason != contract.ReasonStorage || !strings.Contains(ce.Message, what) {
		t.Fatalf("%s = decision %v, error %v; want the plugin's storage error from %q", call, d, err, what)
	}
	if d == contract.DecisionNotRequired || d == contract.DecisionAllowed || d == contract.DecisionRedirect {
		t.Fatalf("%s answered %v alongside its error", call, d)
	}
}

// Case 13: the per-operator flag unreadable. SQLite in WAL mode never
// blocks a reader behind a writer, so a lock cannot make the read fail;
// the table gone from under the plugin can. For an operator Duo is
// enabled for, every login call then fails with the plugin's storage
// error, which a host treats as deny: Duo is never skipped because the
// plugin could not tell whether it is required. Put back, the flag is
// read again and Duo is asked.
func TestCase13OperatorFlagUnreadableEnforcesDuo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	codes := e.setUpCodes(alice)
	db := e.openPluginDB()
	ctx := ctxT(t)
	if _, err := db.ExecContext(ctx, `ALTER TABLE operators RENAME TO operators_unreadable`); err != nil {
		t.Fatal(err)
	}

	res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: client})
	wantStorageError(t, "BeginLogin", "operator state", res.Decision, err)
	c, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: strings.Repeat("s", 36),
		CallbackState: strings.Repeat("s", 36), DuoCode: "a-duo-code-of-plausible-length", Client: client})
	wantStorageError(t, "CompleteLogin", "operator state", c.Decision, err)
	r, err := e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: codes[0], Client: client})
	wantStorageError(t, "RedeemCode", "operator state", r.Decision, err)
	if n := e.sim.Stats().TokenExchanges; n != 1 { // setUpCodes' own
		t.Fatalf("Duo saw %d token exchanges, want only the set-up's", n)
	}

	if _, err := db.ExecContext(ctx, `ALTER TABLE operators_unreadable RENAME TO operators`); err != nil {
		t.Fatal(err)
	}
	if b := e.begin(alice); b.Decision != contract.DecisionRedirect {
		t.Fatalf("BeginLogin with the flag readable again = %+v, want REDIRECT", b)
	}
	if r := e.redeem(alice, codes[0]); r.Decision != contract.DecisionAllowed {
		t.Fatalf("the backup code the failed redemption tried = %+v, want ALLOWED (it was not spent)", r)
	}
}

// Case 29: another connection holds the write lock past the plugin's
// busy timeout (10 s): the write a login needs waits for it, then fails,
// and the login is refused with the plugin's storage error, never let
// through. Released, the next login goes to Duo.
func TestCase29WriteLockHeldLoginRefused(t *testing.T) {
	t.Parallel()
	const busyTimeout = 10 * time.Second // internal/sqlitedb
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, tweak: func(o *host.Options) {
		o.CallTimeout = busyTimeout + 10*time.Second // so that the busy timeout, not the call's, ends the wait
	}}, alice)
	// The first BeginLogin sweeps expired logins, a write of its own;
	// the next sweep is a minute away, so the one below writes once.
	e.redirect(alice)

	db := e.openPluginDB()
	lockCtx, cancel := context.WithTimeout(context.Background(), 2*busyTimeout+30*time.Second)
	defer cancel()
	conn, err := db.Conn(lockCtx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(lockCtx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			conn.ExecContext(context.Background(), `ROLLBACK`)
		}
	}()

	ctx, cancelCall := context.WithTimeout(context.Background(), 2*busyTimeout+10*time.Second)
	defer cancelCall()
	start := time.Now()
	res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: client})
	took := time.Since(start)
	wantStorageError(t, "BeginLogin under a held write lock", "save pending login", res.Decision, err)
	if took < busyTimeout-time.Second {
		t.Fatalf("BeginLogin failed after %v, before the busy timeout (%v): it did not wait for the lock", took, busyTimeout)
	}
	t.Logf("BeginLogin refused after %v", took)

	if _, err := conn.ExecContext(lockCtx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	locked = false
	if b := e.begin(alice); b.Decision != contract.DecisionRedirect {
		t.Fatalf("BeginLogin after the lock was released = %+v, want REDIRECT", b)
	}
}
