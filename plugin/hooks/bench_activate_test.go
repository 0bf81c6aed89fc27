package hooks

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/plugin/duo"
	"github.com/helpdesk-duo/duo-plugin/plugin/store"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

// BenchmarkActivateNewDataDir: Activate on a new data directory, in
// process (no gRPC): the key file, the database made and migrated, the
// settings read, the activation's audit event, the status.
func BenchmarkActivateNewDataDir(b *testing.B) {
	rt := settings.Runtime{DuoTimeout: 2 * time.Second}
	ctx := context.Background()
	for b.Loop() {
		p := New(Config{Runtime: rt, Store: store.SQLiteBackend{}, Duo: duo.NewFactory(rt)})
		if _, err := p.Activate(ctx, contract.ActivateRequest{DataDir: filepath.Join(b.TempDir(), "d"), CallbackURL: "http://127.0.0.1:9/cb", Actor: admin}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_, _ = p.Deactivate(ctx, contract.DeactivateRequest{Actor: admin})
		b.StartTimer()
	}
}
