// Package barestart starts the benchmarks' floor, internal/bareplugin, as
// the host SDK starts the real plugin: a private copy of the executable,
// hashed as it is written (host/instance.go verifiedCopy), run with plain
// go-plugin (AutoMTLS, gRPC, nothing around it), the copy removed once the
// process runs. The floor then pays what the SDK pays for its checksum
// policy, and a ratio to it measures the plugin, not the policy.
package barestart

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/helpdesk-duo/duo-plugin/internal/filehash"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	duov1 "github.com/helpdesk-duo/duo-plugin/proto/duo/v1"
)

// Bare is a running bare plugin and raw generated clients of it: it serves
// the generated servers without the contract's adapter, so it cannot be
// dispensed as a contract.Plugin.
type Bare struct {
	Client    *plugin.Client
	Lifecycle duov1.LifecycleClient
	Login     duov1.LoginClient
	PID       int
}

// Sum is the sha256 of exe: the bare plugin's "manifest" checksum.
func Sum(exe string) ([]byte, error) {
	raw, err := os.ReadFile(exe)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	return sum[:], nil
}

// Start starts the bare plugin at exe, whose sha256 must be sum, with env
// added to this process's environment.
func Start(exe string, sum []byte, env ...string) (*Bare, error) {
	dir, err := os.MkdirTemp("", "bare-plugin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cp := filepath.Join(dir, filepath.Base(exe))
	if err := copyHashed(exe, cp, sum); err != nil {
		return nil, err
	}
	cmd := exec.Command(cp)
	cmd.Env = append(os.Environ(), env...)
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  contract.Handshake,
		VersionedPlugins: contract.VersionedPlugins(nil, nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	rpc, err := c.Client()
	if err != nil {
		c.Kill()
		return nil, fmt.Errorf("start the bare plugin: %w", err)
	}
	gc, ok := rpc.(*plugin.GRPCClient)
	if !ok {
		c.Kill()
		return nil, fmt.Errorf("go-plugin client is %T, want *plugin.GRPCClient", rpc)
	}
	return &Bare{Client: c, Lifecycle: duov1.NewLifecycleClient(gc.Conn), Login: duov1.NewLoginClient(gc.Conn), PID: cmd.Process.Pid}, nil
}

// copyHashed copies src to a new executable dst as the SDK does
// (filehash.CopyExecutable), and fails unless its hash is sum.
func copyHashed(src, dst string, sum []byte) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	got, err := filehash.CopyExecutable(in, dst)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, sum) {
		return fmt.Errorf("%s: checksum mismatch", src)
	}
	return nil
}
