package pluginbuild

import (
	"os"
	"strings"
	"testing"
)

// Binary builds a package once per process, and a failed build leaves no
// directory behind; Cleanup removes what was built.
func TestBinaryBuildsOnce(t *testing.T) {
	first, err := Binary("./internal/bareplugin")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(first)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o100 == 0 {
		t.Fatalf("Binary = %s: %v, %v; want an executable file", first, fi, err)
	}
	if again, err := Binary("./internal/bareplugin"); again != first || err != nil {
		t.Fatalf("second Binary = %s, %v; want %s again, not a second build", again, err, first)
	}

	_, err = Binary("./internal/no-such-command")
	if err == nil || !strings.Contains(err.Error(), "pluginbuild: go build ./internal/no-such-command: ") {
		t.Fatalf("Binary of a missing package: %v", err)
	}
	if dir := builds["binary ./internal/no-such-command"].dir; dir != "" {
		t.Fatalf("a failed build left %s behind", dir)
	}

	Cleanup()
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("after Cleanup, %s: %v; want it removed", first, err)
	}
}
