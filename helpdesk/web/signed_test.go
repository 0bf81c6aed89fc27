package web_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/release"
)

var pluginRelease = regexp.MustCompile(`(?s)<dd id="plugin-release">(.*?)</dd>`)

// TestSignedReleaseOfAnotherKeyShownAndLoginsRefused: the helpdesk pins a
// release key, and the release installed (signed through internal/release,
// installed by the SDK) was signed by another. Start refuses it before
// anything runs, the Plugins page says the signature did not verify, and
// with the plugin active every sign-in that needs Duo is refused.
func TestSignedReleaseOfAnotherKeyShownAndLoginsRefused(t *testing.T) {
	// The binary never runs (the signature is refused first), so a script
	// stands in for it; its sha256 is in the manifest, as in a release.
	const executable = "#!/bin/sh\necho 'must never run' >&2\nexit 1\n"
	sum := sha256.Sum256([]byte(executable))
	bundle := filepath.Join(t.TempDir(), "duo-security-0.1.0")
	manifest := fmt.Sprintf(`{"id":"duo-security","name":"Duo Security","version":"0.1.0","protocol_version":1,
"executables":{%q:{"path":"bin/duo-plugin","sha256":%q}},
"settings_schema":[{"key":"client_id","display_name":"Client ID","type":"text","required":true}]}`,
		runtime.GOOS+"-"+runtime.GOARCH, hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(filepath.Join(bundle, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "plugin.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "bin", "duo-plugin"), []byte(executable), 0o755); err != nil {
		t.Fatal(err)
	}
	signer, signerPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pinned, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := release.Sign(bundle, signerPriv); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "duo-security-0.1.0.tar.gz")
	if err := release.WriteArchive(bundle, archive); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "plugins", "duo-security")
	inst, err := host.Install(t.Context(), archive, root, []ed25519.PublicKey{signer})
	if err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, envOpts{installRoot: root,
		start: plugins.SDKStarter(host.Options{TrustedKeys: []ed25519.PublicKey{pinned}, StartTimeout: 5 * time.Second})})
	if err := e.mgr.StartError(); !errors.Is(err, host.ErrBadSignature) {
		t.Fatalf("StartError = %v; want host.ErrBadSignature", err)
	}
	page := wantBundleRefused(t, e,
		"The bundle's signature did not verify against the pinned release keys, so the plugin was not started.",
		"signed by key "+host.KeyID(signer)+", which is not a trusted key (trusted: "+host.KeyID(pinned)+")")
	if m := pluginRelease.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], filepath.Base(inst.Dir)) {
		t.Errorf("the Plugins page does not name the installed release %s: %q", filepath.Base(inst.Dir), m)
	}
}

// TestOlderPluginLogPageSaysUpgrade: a plugin older than the SDK, without
// the AuthLog service (the real binary built with duotest_older), behind
// the Log page. The page says, in the reader's language, that this plugin
// keeps no log and should be upgraded, with 200 rather than an outage; a
// download says the same; the plugin still signs people in; and /metrics
// has it up, with no scrape error.
func TestOlderPluginLogPageSaysUpgrade(t *testing.T) {
	e := newRealEnvOf(t, pluginbuild.ForTestTagged(t, "duotest_older"))
	rec := httptest.NewRecorder()
	e.app.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, "\nduo_plugin_up 1\n") || strings.Contains(body, "duo_plugin_logins_total") {
		t.Errorf("/metrics with an older plugin: %d, want 200 with duo_plugin_up 1 and no plugin metrics:\n%.800s", rec.Code, body)
	}
	unavailable := regexp.MustCompile(`(?s)<div class="alert" id="log-unavailable">(.*?)</div>`)
	for _, tc := range []struct{ lang, want string }{
		{"", "This version of the Duo Security plugin does not keep an authentication log. Upgrade the plugin"},
		{"de", "Diese Version des Plugins Duo Security führt kein Anmeldeprotokoll. Aktualisieren Sie das Plugin"},
	} {
		c := e.client()
		c.lang = tc.lang
		c.signedIn("admin")
		resp := c.get("/admin/log")
		m := unavailable.FindStringSubmatch(c.last)
		if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(html.UnescapeString(m[1]), tc.want) {
			t.Errorf("Log page (%q) of an older plugin: status %d, alert %q; want 200 and %q", tc.lang, resp.StatusCode, m, tc.want)
		}
		resp = c.get("/admin/log/export?format=csv")
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/log") {
			t.Fatalf("export from an older plugin: %d %q; want a redirect to the Log page", resp.StatusCode, loc)
		}
		c.get(resp.Header.Get("Location"))
		if !strings.Contains(html.UnescapeString(c.last), tc.want) {
			t.Errorf("the Log page after a download (%q) does not say %q:\n%s", tc.lang, tc.want, c.last)
		}
	}
}
