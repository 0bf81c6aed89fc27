package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The command's refusals, all before anything is built; the build itself
// is internal/release's, tested there.
func TestRun(t *testing.T) {
	t.Parallel()
	key := filepath.Join(t.TempDir(), "release-key")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"keygen", "-out", key}, &out, &errOut); err != nil {
		t.Fatalf("keygen: %v\n%s", err, errOut.String())
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil || !strings.Contains(out.String(), strings.Fields(string(pub))[1]) {
		t.Fatalf("keygen printed %q; the .pub file holds %q (%v)", out.String(), pub, err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a key inside the repository", []string{"keygen", "-out", "release-key"}, "is inside the repository"},
		{"keygen without -out", []string{"keygen"}, "-out is required"},
		{"no key", []string{"-version", "1.0.0"}, "-key is required"},
		{"a version with a v", []string{"-version", "v1.0.0", "-key", key, "-out", t.TempDir()}, `version "v1.0.0" is not a semantic version`},
		{"not a version", []string{"-version", "1.0", "-key", key, "-out", t.TempDir()}, `version "1.0" is not a semantic version`},
	} {
		err := run(context.Background(), tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: run = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := os.Stat("release-key"); !os.IsNotExist(err) {
		t.Fatal("keygen wrote a key inside the repository")
	}
}
