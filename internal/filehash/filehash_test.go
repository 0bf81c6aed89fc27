package filehash

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2, appendix B.1: SHA-256("abc").
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got, err := SHA256(p); err != nil || got != want {
		t.Fatalf("SHA256 = %s, %v; want %s", got, err, want)
	}
	if _, err := SHA256(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing file hashed")
	}
}

func TestCopyExecutable(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "exe")
	sum, err := CopyExecutable(strings.NewReader("abc"), dst)
	if err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2, appendix B.1: SHA-256("abc").
	if got := hex.EncodeToString(sum); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("sum %s", got)
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Mode().Perm() != 0o700 || fi.Size() != 3 {
		t.Fatalf("copy: %v, %v", fi, err)
	}
	// The copy is a new file: an existing one (perhaps planted) is refused.
	if _, err := CopyExecutable(strings.NewReader("x"), dst); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second copy: %v, want ErrExist", err)
	}
}
