package contract

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// The major version lives in three places: the proto package name, the
// handshake and VersionedPlugins. They must agree. (plugin.json repeats
// ProtocolVersion and PluginID: the root package duoplugin, which embeds
// it, checks both when it loads, so every plugin binary and every test of
// settings/ and plugin/ fails at once on a mismatch.)
func TestProtocolVersionMatchesProtoPackage(t *testing.T) {
	t.Parallel()
	pkg := string(duov1.File_duo_v1_duo_proto.Package())
	want := fmt.Sprintf("helpdesk.duo.v%d", ProtocolVersion)
	if pkg != want {
		t.Fatalf("proto package = %q, want %q (ProtocolVersion = %d)", pkg, want, ProtocolVersion)
	}
	if Handshake.ProtocolVersion != ProtocolVersion {
		t.Fatalf("Handshake.ProtocolVersion = %d, want %d", Handshake.ProtocolVersion, ProtocolVersion)
	}
	vp := VersionedPlugins(nil, nil)
	if _, ok := vp[ProtocolVersion][PluginName]; !ok || len(vp) != 1 {
		t.Fatalf("VersionedPlugins = %v, want exactly version %d with %q", vp, ProtocolVersion, PluginName)
	}
}

// The minor version lives in the proto's file option protocol_minor and in
// ProtocolMinor; they must agree, and the plugin must report it.
func TestProtocolMinorMatchesProtoOption(t *testing.T) {
	t.Parallel()
	opts := duov1.File_duo_v1_duo_proto.Options().(*descriptorpb.FileOptions)
	if !proto.HasExtension(opts, duov1.E_ProtocolMinor) {
		t.Fatal("duo.proto has no option (protocol_minor)")
	}
	if got := proto.GetExtension(opts, duov1.E_ProtocolMinor).(uint32); got != ProtocolMinor {
		t.Fatalf("duo.proto's protocol_minor = %d, contract.ProtocolMinor = %d", got, ProtocolMinor)
	}
	if servedMinor != ProtocolMinor {
		t.Fatalf("a release build serves minor %d, want %d (built with a duotest_ tag?)", servedMinor, ProtocolMinor)
	}
	if got := toprotoServedStatus(StatusResponse{}).GetProtocolMinor(); got != ProtocolMinor {
		t.Fatalf("the server adapter reports minor %d, want %d", got, ProtocolMinor)
	}
}

// versionLine is protoc's own version in the generated header; it differs
// between machines and says nothing about staleness.
var versionLine = regexp.MustCompile(`(?m)^// \tprotoc\s+v.*$`)

// TestGeneratedCodeIsFresh regenerates the Go code into a temp dir with the
// project's command and compares it with the committed files.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("protoc is not installed, and CI must check the generated code (.ci/run installs protobuf-compiler)")
		}
		t.Skip("!!! SKIPPED: protoc not installed; cannot check that proto/duo/v1/*.pb.go is fresh (apt-get install -y protobuf-compiler)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "genproto.sh"), out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genproto.sh: %v\n%s", err, b)
	}
	for _, name := range []string{"duo.pb.go", "duo_grpc.pb.go"} {
		committed, err := os.ReadFile(filepath.Join(root, "proto", "duo", "v1", name))
		if err != nil {
			t.Fatal(err)
		}
		fresh, err := os.ReadFile(filepath.Join(out, "proto", "duo", "v1", name))
		if err != nil {
			t.Fatal(err)
		}
		c := versionLine.ReplaceAll(committed, nil)
		f := versionLine.ReplaceAll(fresh, nil)
		if !bytes.Equal(c, f) {
			t.Errorf("proto/duo/v1/%s is stale: run scripts/genproto.sh and commit the result (first difference near: %q)", name, firstDiff(string(c), string(f)))
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return al[i] + " ≠ " + bl[i]
		}
	}
	return "length differs"
}
