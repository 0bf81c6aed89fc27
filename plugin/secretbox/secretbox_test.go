package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "secrets.key")

	key, created, err := LoadOrCreateKey(path)
	if err != nil || !created || len(key) != KeySize {
		t.Fatalf("first call: created=%v len=%d err=%v", created, len(key), err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o600 {
		t.Fatalf("key file mode = %o, want 600", got)
	}
	again, created, err := LoadOrCreateKey(path)
	if err != nil || created || !bytes.Equal(again, key) {
		t.Fatalf("second call: created=%v same=%v err=%v", created, bytes.Equal(again, key), err)
	}
}

func TestLoadOrCreateKeyRefusesBadFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		content []byte
		mode    os.FileMode
	}{
		{"world readable", make([]byte, KeySize), 0o644},
		{"short", make([]byte, 5), 0o600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "secrets.key")
			if err := os.WriteFile(path, tc.content, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			if _, _, err := LoadOrCreateKey(path); err == nil {
				t.Fatal("want an error")
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, tc.content) {
				t.Fatal("the refused key file was changed")
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, KeySize)
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := box.Seal("client_secret", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("plaintext visible in sealed value")
	}
	plain, err := box.Open("client_secret", sealed)
	if err != nil || string(plain) != "s3cret" {
		t.Fatalf("Open = %q, %v", plain, err)
	}

	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	cases := []struct {
		name  string
		box   *Box
		field string
		data  []byte
	}{
		{"wrong key", other, "client_secret", sealed},
		{"wrong name", box, "other", sealed},
		{"tampered", box, "client_secret", tampered},
		{"truncated", box, "client_secret", sealed[:5]},
	}
	for _, tc := range cases {
		if _, err := tc.box.Open(tc.field, tc.data); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", tc.name, err)
		}
	}
}
