package host

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestPublicKeyText(t *testing.T) {
	t.Parallel()
	pub, _ := newKey(t)
	text := FormatPublicKey(pub)
	if !strings.HasPrefix(text, "duo-plugin-ed25519 ") || strings.ContainsAny(text, "\n") {
		t.Fatalf("FormatPublicKey = %q", text)
	}
	for _, s := range []string{text, text + " release key 2026", "  " + text + "\n"} {
		got, err := ParsePublicKey(s)
		if err != nil || !got.Equal(pub) {
			t.Fatalf("ParsePublicKey(%q) = %x, %v; want the key back", s, got, err)
		}
	}
	short := "duo-plugin-ed25519 " + base64.StdEncoding.EncodeToString(pub[:31])
	for _, tc := range []struct{ in, want string }{
		{"", "want \"duo-plugin-ed25519 \" followed by the base64 key"},
		{"ssh-ed25519 " + base64.StdEncoding.EncodeToString(pub), "want \"duo-plugin-ed25519 \""},
		{"duo-plugin-ed25519 not*base64", "base64"},
		{short, "31 bytes, want 32"},
	} {
		if _, err := ParsePublicKey(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePublicKey(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}

	other, _ := newKey(t)
	file := "# release keys\n\n" + text + " current\n" + FormatPublicKey(other) + " next\n"
	keys, err := ParsePublicKeys([]byte(file))
	if err != nil || len(keys) != 2 || !keys[0].Equal(pub) || !keys[1].Equal(other) {
		t.Fatalf("ParsePublicKeys = %d keys, %v", len(keys), err)
	}
	if _, err := ParsePublicKeys([]byte("# none\n")); err == nil {
		t.Fatal("ParsePublicKeys of no key succeeded")
	}
	if _, err := ParsePublicKeys([]byte(text + "\n" + short + "\n")); err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Fatalf("ParsePublicKeys with a bad line 2: %v", err)
	}
}

func TestVerifyManifest(t *testing.T) {
	t.Parallel()
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	manifest := []byte(`{"id":"duo-security"}` + "\n")
	sig := SignManifest(priv, manifest)
	if id, err := VerifyManifest(manifest, sig, []ed25519.PublicKey{otherPub, pub}); err != nil || id != KeyID(pub) {
		t.Fatalf("VerifyManifest = %q, %v; want key %s", id, err, KeyID(pub))
	}
	fields := strings.Fields(string(sig))
	bare := ed25519.Sign(priv, manifest) // without the domain prefix
	altered := append([]byte(nil), manifest...)
	altered[2] = 'X'
	flipped, _ := base64.StdEncoding.DecodeString(fields[2])
	flipped[0] ^= 1
	for _, tc := range []struct {
		name      string
		manifest  []byte
		sig       string
		trusted   []ed25519.PublicKey
		wantInErr string
	}{
		{"no trusted keys", manifest, string(sig), nil, "no trusted keys"},
		{"empty signature", manifest, "", []ed25519.PublicKey{pub}, "malformed signature"},
		{"not base64", manifest, fields[0] + " " + fields[1] + " !!!", []ed25519.PublicKey{pub}, "malformed signature: not 64 bytes"},
		{"signed by a key not trusted", manifest, string(SignManifest(otherPriv, manifest)), []ed25519.PublicKey{pub},
			"signed by key " + KeyID(otherPub) + ", which is not a trusted key (trusted: " + KeyID(pub) + ")"},
		{"manifest altered", altered, string(sig), []ed25519.PublicKey{pub}, "does not verify: the manifest or its signature was altered"},
		{"signature altered", manifest, fields[0] + " " + fields[1] + " " + base64.StdEncoding.EncodeToString(flipped), []ed25519.PublicKey{pub}, "does not verify"},
		{"signature without the domain prefix", manifest, fields[0] + " " + fields[1] + " " + base64.StdEncoding.EncodeToString(bare), []ed25519.PublicKey{pub}, "does not verify"},
		{"a key id claimed by another key", manifest, string(SignManifest(otherPriv, manifest)), []ed25519.PublicKey{pub, otherPub[:16]}, "not a trusted key"},
	} {
		_, err := VerifyManifest(tc.manifest, []byte(tc.sig), tc.trusted)
		if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tc.wantInErr) {
			t.Errorf("%s: VerifyManifest error = %v, want ErrBadSignature containing %q", tc.name, err, tc.wantInErr)
		}
	}
}

// With TrustedKeys, Start runs only a manifest signed by one of them; the
// process never starts otherwise.
func TestStartVerifiesTheSignature(t *testing.T) {
	t.Parallel()
	pub, priv := newKey(t)
	_, otherPriv := newKey(t)
	sign := func(key ed25519.PrivateKey) func(t *testing.T, manifest string) {
		return func(t *testing.T, manifest string) {
			data, err := os.ReadFile(manifest)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(manifest+".sig", SignManifest(key, data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, manifest string)
		mutate  func(*Options)
		wantMsg string // "" for a start
	}{
		{name: "signed by the pinned key", prepare: sign(priv)},
		{name: "unsigned", prepare: func(*testing.T, string) {}, wantMsg: ".sig does not exist"},
		{name: "signed by another key", prepare: sign(otherPriv), wantMsg: "which is not a trusted key"},
		{name: "manifest changed after signing", prepare: func(t *testing.T, manifest string) {
			sign(priv)(t, manifest)
			data, _ := os.ReadFile(manifest)
			if err := os.WriteFile(manifest, append(data, ' '), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantMsg: "does not verify"},
		{name: "signature file garbage", prepare: func(t *testing.T, manifest string) {
			if err := os.WriteFile(manifest+".sig", []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantMsg: "malformed signature"},
		{name: "a loaded manifest has no signature to check", prepare: sign(priv), mutate: func(o *Options) {
			m, err := LoadManifest(o.ManifestPath)
			if err != nil {
				panic(err)
			}
			o.ManifestPath, o.Manifest = "", m
		}, wantMsg: "Options.TrustedKeys needs Options.ManifestPath"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, bundle{sha: "self"})
			tc.prepare(t, h.manifest)
			p, err := h.start(func(o *Options) {
				o.TrustedKeys = []ed25519.PublicKey{pub}
				if tc.mutate != nil {
					tc.mutate(o)
				}
			})
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				defer p.Close()
				if st, err := p.Status(context.Background(), contract.StatusRequest{}); err != nil || st.PluginVersion != fakeVersion {
					t.Fatalf("Status = %+v, %v", st, err)
				}
				return
			}
			if err == nil {
				p.Close()
				t.Fatal("Start succeeded, want ErrBadSignature")
			}
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Start error = %v, want ErrBadSignature containing %q", err, tc.wantMsg)
			}
			if n := h.started(); n != 0 {
				t.Fatalf("%d plugin processes started; a refused plugin must never run", n)
			}
		})
	}
}
