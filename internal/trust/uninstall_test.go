package trust

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 33: after logins and codes, Uninstall (deactivated first) removes
// the database with its -wal and -shm files, the event spool, the key
// file, and the data directory itself: nothing of the codes or the secret
// stays on disk.
func TestCase33UninstallLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}}, alice)
	e.setUpCodes(alice)
	// bob needs no Duo: his login's audit row goes through the event spool
	// (duo.db-events.*), which must go too.
	if b := e.begin(bob); b.Decision != contract.DecisionNotRequired {
		t.Fatalf("BeginLogin(bob) = %+v, want NOT_REQUIRED", b)
	}
	ctx := ctxT(t)
	present := 0
	for _, name := range []string{"duo.db", "duo.db-wal", "duo.db-shm", "secrets.key"} {
		if _, err := os.Stat(filepath.Join(e.dataDir, name)); err == nil {
			present++
		}
	}
	if present < 3 { // the WAL's files may be checkpointed away; the database and the key may not
		t.Fatalf("only %d of the plugin's files in the data dir before Uninstall", present)
	}
	if _, err := e.p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin}); err != nil {
		t.Fatal(err)
	}
	res, err := e.p.Uninstall(ctx, contract.UninstallRequest{Confirm: "duo-security", Actor: admin})
	if err != nil {
		t.Fatalf("Uninstall: %v", err)
	}
	if len(res.Removed) == 0 {
		t.Fatal("Uninstall removed nothing")
	}
	if _, err := os.Stat(e.dataDir); !os.IsNotExist(err) {
		left, _ := os.ReadDir(e.dataDir)
		t.Fatalf("the data dir is still there (%v), holding %v; Uninstall reported %v", err, left, res.Removed)
	}
}
