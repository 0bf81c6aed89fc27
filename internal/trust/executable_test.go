package trust

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// pluginBinary is the executable of the bundle whose manifest is at
// manifest.
func pluginBinary(manifest string) string {
	return filepath.Join(filepath.Dir(manifest), "bin", pluginbuild.Target(), "duo-plugin")
}

// startBundle is host.Start on manifest with the test's short bounds; the
// caller closes the plugin it returns.
func startBundle(t *testing.T, manifest string, env ...string) (*host.Plugin, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return host.Start(ctx, host.Options{ManifestPath: manifest, StartTimeout: 5 * time.Second, MaxRestarts: -1, Env: env})
}

// impostorEnv names the file this test binary creates, and then exits, when
// run as the impostor of case 37.
const impostorEnv = "DUO_TRUST_IMPOSTOR_MARKER"

// runImpostor is the impostor: it leaves its mark and exits.
func runImpostor(marker string) {
	_ = os.WriteFile(marker, []byte("ran"), 0o644)
	os.Exit(3)
}

// copyFile copies src to dst, executable.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// Case 37: the executable the manifest names must be in the bundle, and
// the file whose checksum is verified must be the very file executed.
// A symlink (to the file or to a directory on its way) that leads out of
// the bundle is refused even when what it leads to is the genuine binary,
// whose checksum matches: where the file lives is checked, not only what
// it holds. A symlink inside the bundle is followed. And a binary swapped
// for another while the SDK starts the plugin never runs: each launch
// either starts the genuine binary or is refused with
// host.ErrChecksumMismatch (the SDK hashes a private copy and runs that
// copy, so no window opens between the check and the exec).
func TestCase37ExecutableOutsideBundleOrSwappedIsRefused(t *testing.T) {
	t.Parallel()

	outside := func(t *testing.T, move func(bundleBin, elsewhere string) (from, to string)) {
		t.Helper()
		manifest := pluginbuild.ForTest(t)
		from, to := move(pluginBinary(manifest), t.TempDir())
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(to, from); err != nil {
			t.Fatal(err)
		}
		p, err := startBundle(t, manifest)
		if err == nil {
			_ = p.Close()
			t.Fatal("Start ran a binary outside the bundle")
		}
		if !errors.Is(err, host.ErrNoExecutable) || !strings.Contains(err.Error(), "outside the plugin's directory") {
			t.Fatalf("Start = %v; want ErrNoExecutable naming the escape", err)
		}
	}
	t.Run("symlink to the binary outside the bundle", func(t *testing.T) {
		t.Parallel()
		outside(t, func(bin, elsewhere string) (string, string) { return bin, filepath.Join(elsewhere, "duo-plugin") })
	})
	t.Run("symlinked directory outside the bundle", func(t *testing.T) {
		t.Parallel()
		outside(t, func(bin, elsewhere string) (string, string) {
			return filepath.Dir(bin), filepath.Join(elsewhere, pluginbuild.Target())
		})
	})
	t.Run("symlink inside the bundle is followed", func(t *testing.T) {
		t.Parallel()
		manifest := pluginbuild.ForTest(t)
		bin := pluginBinary(manifest)
		real := filepath.Join(filepath.Dir(manifest), "real-duo-plugin")
		if err := os.Rename(bin, real); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "..", "real-duo-plugin"), bin); err != nil {
			t.Fatal(err)
		}
		p, err := startBundle(t, manifest)
		if err != nil {
			t.Fatalf("Start through a symlink inside the bundle: %v", err)
		}
		defer p.Close()
		if st, err := p.Status(ctxT(t), contract.StatusRequest{}); err != nil || st.PluginVersion == "" {
			t.Fatalf("Status = %+v, %v", st, err)
		}
	})

	t.Run("binary swapped during start never runs", func(t *testing.T) {
		t.Parallel()
		manifest := pluginbuild.ForTest(t)
		bin := pluginBinary(manifest)
		dir := filepath.Dir(bin)
		marker := filepath.Join(t.TempDir(), "impostor-ran")
		genuine, impostor := filepath.Join(dir, "genuine"), filepath.Join(dir, "impostor")
		if err := os.Link(bin, genuine); err != nil {
			t.Fatal(err)
		}
		// The impostor is this test binary, which leaves the marker when
		// run with impostorEnv (a script would not do: the shell reads it
		// again by its path, which may hold the genuine binary by then).
		copyFile(t, os.Args[0], impostor)
		// Swap the bundle's file between the two, each swap one atomic
		// rename, as fast as it goes, while the SDK starts the plugin.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tmp := filepath.Join(dir, "swap")
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				src := genuine
				if i%2 == 1 {
					src = impostor
				}
				_ = os.Remove(tmp)
				if err := os.Link(src, tmp); err != nil {
					t.Error(err)
					return
				}
				if err := os.Rename(tmp, bin); err != nil {
					t.Error(err)
					return
				}
			}
		})
		defer wg.Wait()
		defer close(stop)

		const launches = 24
		started, refused := 0, 0
		for i := 0; i < launches && !t.Failed(); i++ {
			p, err := startBundle(t, manifest, impostorEnv+"="+marker)
			if _, statErr := os.Stat(marker); statErr == nil {
				if p != nil {
					_ = p.Close()
				}
				t.Fatalf("launch %d ran the impostor swapped in for the verified binary (Start: %v)", i, err)
			}
			switch {
			case err == nil:
				started++
				if cerr := p.Close(); cerr != nil {
					t.Logf("close: %v", cerr)
				}
			case errors.Is(err, host.ErrChecksumMismatch):
				refused++
			default:
				t.Fatalf("launch %d: Start = %v; want the genuine plugin or ErrChecksumMismatch", i, err)
			}
		}
		t.Logf("%d launches: %d started the genuine binary, %d refused the impostor", launches, started, refused)
		if started == 0 || refused == 0 {
			t.Fatalf("the swaps never met a launch (%d started, %d refused): the test proved nothing", started, refused)
		}
	})
}

// tamper appends a byte to the bundle's binary: still a working
// executable, no longer the one the manifest's sha256 names.
func tamper(t *testing.T, manifest string) {
	t.Helper()
	f, err := os.OpenFile(pluginBinary(manifest), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Case 25: a binary that does not match the manifest's sha256 never runs.
// At start, host.Start refuses it (ErrChecksumMismatch; ErrUnverified
// when the manifest has no sha256 at all), so the host has no plugin and
// its logins fail closed (the reference helpdesk's half, and what its
// Plugins page says, is helpdesk/web's TestCase25ChecksumMismatchShownAndLoginsRefused).
// At a restart (the binary replaced while the plugin ran, then the process
// died) the SDK refuses it for good: the plugin goes PhaseFailed, saying
// why, and the login calls answer ErrUnavailable with no decision, never
// NOT_REQUIRED, until the host starts a plugin again.
func TestCase25ChecksumMismatchRefusedAndLoginsFailClosed(t *testing.T) {
	t.Parallel()
	atStart := []struct {
		name   string
		tamper func(t *testing.T, manifest string)
		want   error
	}{
		{"manifest sha256 differs", func(t *testing.T, manifest string) {
			pluginbuild.EditExecutable(t, manifest, func(exe map[string]any) { exe["sha256"] = strings.Repeat("ab", 32) })
		}, host.ErrChecksumMismatch},
		{"binary tampered after bundling", tamper, host.ErrChecksumMismatch},
		{"no checksum, not allowed", func(t *testing.T, manifest string) {
			pluginbuild.EditExecutable(t, manifest, func(exe map[string]any) { delete(exe, "sha256") })
		}, host.ErrUnverified},
	}
	for _, tc := range atStart {
		t.Run("at start: "+tc.name, func(t *testing.T) {
			t.Parallel()
			manifest := pluginbuild.ForTest(t)
			tc.tamper(t, manifest)
			p, err := startBundle(t, manifest)
			if err == nil {
				_ = p.Close()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.want) || p != nil {
				t.Fatalf("Start = %v, %v; want no plugin and %v", p, err, tc.want)
			}
		})
	}

	t.Run("at restart", func(t *testing.T) {
		t.Parallel()
		var manifest string
		e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, failMode: "open", tweak: func(o *host.Options) {
			manifest = o.ManifestPath
			o.PingInterval = 100 * time.Millisecond
			o.RestartBackoffMin = 50 * time.Millisecond
		}}, alice)
		e.redirect(alice)
		tamper(t, manifest)
		pid := e.p.State().PID
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitfor.Until(t, 10*time.Second, "the SDK gives up on the tampered binary", func() bool {
			return e.p.State().Phase == host.PhaseFailed
		})
		if st := e.p.State(); !strings.Contains(st.LastError, "does not match the sha256 in the manifest") {
			t.Fatalf("state %+v does not say why the plugin is not running", st)
		}
		ctx := ctxT(t)
		// Even with fail_mode open: the plugin is not there to decide.
		res, err := e.p.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: client})
		if !errors.Is(err, host.ErrUnavailable) || contract.ReasonOf(err) != contract.ReasonPluginUnavailable ||
			!reflect.DeepEqual(res, contract.BeginLoginResponse{}) {
			t.Fatalf("BeginLogin = %+v, %v (reason %q); want ErrUnavailable and no decision", res, err, contract.ReasonOf(err))
		}
		cres, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: "s", CallbackState: "s", DuoCode: "c", Client: client})
		if !errors.Is(err, host.ErrUnavailable) || !reflect.DeepEqual(cres, contract.CompleteLoginResponse{}) {
			t.Fatalf("CompleteLogin = %+v, %v; want ErrUnavailable and no decision", cres, err)
		}
		rres, err := e.p.RedeemCode(ctx, contract.RedeemCodeRequest{Operator: alice, Code: "12345678", Client: client})
		if !errors.Is(err, host.ErrUnavailable) || !reflect.DeepEqual(rres, contract.CompleteLoginResponse{}) {
			t.Fatalf("RedeemCode = %+v, %v; want ErrUnavailable and no decision", rres, err)
		}
	})
}
