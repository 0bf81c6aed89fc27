package trust

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/testlog"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// selfSignedCert makes a certificate of the shape go-plugin's AutoMTLS
// makes for each side (CN and DNS name localhost, a CA of its own), and
// returns it with its PEM.
func selfSignedCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// pluginEnv is the environment go-plugin gives the plugin (the magic
// cookie, the protocol versions and, with AutoMTLS, the host's
// certificate) plus extra, on a copy of the test's own environment without
// any DUO_PLUGIN_* or PLUGIN_* variable, so that only extra configures it.
func pluginEnv(clientCertPEM []byte, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DUO_PLUGIN_") && !strings.HasPrefix(kv, "PLUGIN_") &&
			!strings.HasPrefix(kv, contract.Handshake.MagicCookieKey+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, contract.Handshake.MagicCookieKey+"="+contract.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_CLIENT_CERT="+string(clientCertPEM))
	return append(env, extra...)
}

// handshakeLine is go-plugin's handshake for protocol 1 over gRPC with
// AutoMTLS: CORE|APP|network|address|grpc|the server's certificate (DER,
// unpadded base64), and nothing else on the line.
var handshakeLine = regexp.MustCompile(`^1\|1\|(unix|tcp)\|([^|\n]+)\|grpc\|([A-Za-z0-9+/]+)\n$`)

// Case 24: the first line the plugin writes on stdout is go-plugin's
// handshake, nothing before it, whatever the log level, the log format or
// a config file say; the plugin's logs go to stderr (as JSON lines when
// the format is JSON), and after the handshake go-plugin owns stdout, so
// nothing else appears there either. A configuration the plugin refuses,
// or a start by hand without the magic cookie, writes nothing at all on
// stdout: the explanation goes to stderr and the process exits.
func TestCase24NothingOnStdoutBeforeHandshake(t *testing.T) {
	t.Parallel()
	bin := pluginBinary(pluginbuild.ForTest(t))
	_, hostCert := selfSignedCert(t)
	configFile := filepath.Join(t.TempDir(), "duo-plugin.yaml")
	if err := os.WriteFile(configFile, []byte("log_level: trace\nlog_format: text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		json bool // stderr is JSON lines
		// refused: the process exits with an error; stderr says why.
		refused    bool
		wantStderr string
	}{
		{name: "defaults", json: true},
		{name: "trace json", env: []string{"DUO_PLUGIN_LOG_LEVEL=trace", "DUO_PLUGIN_LOG_FORMAT=json"}, json: true},
		{name: "debug text", env: []string{"DUO_PLUGIN_LOG_LEVEL=debug", "DUO_PLUGIN_LOG_FORMAT=text"}},
		{name: "info", env: []string{"DUO_PLUGIN_LOG_LEVEL=info"}, json: true},
		{name: "warn text", env: []string{"DUO_PLUGIN_LOG_LEVEL=warn", "DUO_PLUGIN_LOG_FORMAT=text"}},
		{name: "error", env: []string{"DUO_PLUGIN_LOG_LEVEL=error"}, json: true},
		{name: "config file at trace", env: []string{"DUO_PLUGIN_CONFIG=" + configFile}},
		{name: "every runtime variable set", env: []string{"DUO_PLUGIN_LOG_LEVEL=trace", "DUO_PLUGIN_DATA_DIR=" + t.TempDir(),
			"DUO_PLUGIN_DUO_TIMEOUT=2s", "DUO_PLUGIN_HEALTH_CACHE_TTL=0s", "DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true"}, json: true},
		{name: "invalid log level", env: []string{"DUO_PLUGIN_LOG_LEVEL=loud"}, refused: true, wantStderr: "DUO_PLUGIN_LOG_LEVEL"},
		{name: "missing config file", env: []string{"DUO_PLUGIN_CONFIG=" + filepath.Join(t.TempDir(), "none.yaml")}, refused: true, wantStderr: "none.yaml"},
		{name: "no magic cookie", env: []string{contract.Handshake.MagicCookieKey + "="}, refused: true, wantStderr: "plugin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = pluginEnv(hostCert, tc.env...)
			cmd.Dir = t.TempDir()
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr testlog.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			out := bufio.NewReader(stdout)
			if tc.refused {
				rest, _ := io.ReadAll(out)
				err := cmd.Wait()
				if len(rest) > 0 {
					t.Fatalf("the refused plugin wrote %q on stdout", rest)
				}
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 {
					t.Fatalf("the refused plugin exited with %v; want an error status", err)
				}
				if !strings.Contains(stderr.String(), tc.wantStderr) {
					t.Fatalf("stderr does not name %q:\n%s", tc.wantStderr, stderr.String())
				}
				return
			}
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("read the handshake: %v (stdout so far %q; stderr:\n%s)", err, line, stderr.String())
			}
			if !handshakeLine.MatchString(line) {
				t.Fatalf("first stdout line %q is not go-plugin's gRPC handshake for protocol 1 with a certificate", line)
			}
			_ = cmd.Process.Kill()
			rest, _ := io.ReadAll(out)
			_ = cmd.Wait()
			if len(rest) > 0 {
				t.Fatalf("stdout after the handshake: %q", rest)
			}
			if !tc.json {
				return
			}
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				var v map[string]any
				if l != "" && json.Unmarshal([]byte(l), &v) != nil {
					t.Fatalf("stderr line is not JSON: %q", l)
				}
			}
		})
	}
}

// Case 26: with AutoMTLS (the only way the SDK starts the plugin), a
// local process that finds the plugin's socket cannot use it. The SDK
// starts the plugin with its socket in a directory the test chose; a
// foreign client dials it in plain gRPC, over TLS without a client
// certificate, and over TLS with a certificate of its own making (shaped
// like the host's). Every call fails, the health check too, and none of
// them changed anything: the plugin is still active, the settings and
// the operators are as they were, no audit event was written, the same
// process runs, and the host's own connection goes on working.
func TestCase26ForeignClientOnThePluginSocketRejected(t *testing.T) {
	t.Parallel()
	sockets := t.TempDir()
	e := newEnv(t, envConfig{sim: duosim.Config{Scripted: true}, tweak: func(o *host.Options) {
		o.Env = append(o.Env, "PLUGIN_UNIX_SOCKET_DIR="+sockets)
	}}, alice)
	ctx := ctxT(t)
	pid := e.p.State().PID
	settingsBefore, err := e.p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	eventsBefore := e.allEvents()

	socks, _ := filepath.Glob(filepath.Join(sockets, "plugin*"))
	var socket string
	for _, s := range socks {
		if fi, err := os.Stat(s); err == nil && fi.Mode()&os.ModeSocket != 0 {
			socket = s
		}
	}
	if socket == "" {
		t.Fatalf("no socket of the plugin's in %s (found %v)", sockets, socks)
	}

	if c, err := net.Dial("unix", socket); err != nil {
		t.Fatalf("the plugin's socket %s does not take connections: %v", socket, err)
	} else {
		c.Close()
	}

	selfMade, _ := selfSignedCert(t)
	foreign := []struct {
		name  string
		creds credentials.TransportCredentials
	}{
		{"plain gRPC", insecure.NewCredentials()},
		{"TLS without a client certificate", credentials.NewTLS(&tls.Config{ServerName: "localhost", InsecureSkipVerify: true})},
		{"TLS with a self-made client certificate", credentials.NewTLS(&tls.Config{ServerName: "localhost", InsecureSkipVerify: true,
			Certificates: []tls.Certificate{selfMade}})},
	}
	intruder := contract.Actor{ID: "intruder", Username: "intruder", Role: contract.RoleAdmin}
	for _, f := range foreign {
		t.Run(f.name, func(t *testing.T) {
			conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(f.creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			c := contract.NewGRPCClient(conn)
			calls := map[string]func(context.Context) (any, error){
				"health check": func(ctx context.Context) (any, error) {
					return healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "plugin"})
				},
				"Status": func(ctx context.Context) (any, error) { return c.Status(ctx, contract.StatusRequest{}) },
				"GetSettings": func(ctx context.Context) (any, error) {
					return c.GetSettings(ctx, contract.GetSettingsRequest{Actor: intruder})
				},
				"UpdateSettings": func(ctx context.Context) (any, error) {
					return c.UpdateSettings(ctx, contract.UpdateSettingsRequest{Actor: intruder, SkipDuoCheck: true,
						Values: map[string]string{"fail_mode": "open", "api_hostname": "evil.example"}})
				},
				"SetOperatorEnabled": func(ctx context.Context) (any, error) {
					return c.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: alice, Enabled: false, Actor: intruder})
				},
				"BeginLogin": func(ctx context.Context) (any, error) {
					return c.BeginLogin(ctx, contract.BeginLoginRequest{Operator: alice, Client: client})
				},
				"Deactivate": func(ctx context.Context) (any, error) {
					return c.Deactivate(ctx, contract.DeactivateRequest{Actor: intruder})
				},
			}
			for name, call := range calls {
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				res, err := call(cctx)
				cancel()
				if err == nil {
					t.Errorf("%s from a foreign client answered %+v", name, res)
				}
			}
		})
	}

	// The same dial with the certificate the plugin was started with
	// works: the foreign clients failed for want of it, nothing else.
	t.Run("control: the certificate given at start is accepted", func(t *testing.T) {
		hostCert, hostPEM := selfSignedCert(t)
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		cmd := exec.CommandContext(rctx, pluginBinary(pluginbuild.ForTest(t)))
		cmd.Env = pluginEnv(hostPEM)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		m := handshakeLine.FindStringSubmatch(line)
		if err != nil || m == nil || m[1] != "unix" {
			t.Fatalf("handshake %q, %v", line, err)
		}
		der, err := base64.RawStdEncoding.DecodeString(m[3])
		if err != nil {
			t.Fatal(err)
		}
		serverCert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(serverCert)
		for _, tc := range []struct {
			name   string
			cert   tls.Certificate
			wantOK bool
		}{{"the host's", hostCert, true}, {"a self-made one", selfMade, false}} {
			conn, err := grpc.NewClient("unix://"+m[2], grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
				ServerName: "localhost", RootCAs: roots, Certificates: []tls.Certificate{tc.cert}})))
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(rctx, 3*time.Second)
			st, err := contract.NewGRPCClient(conn).Status(cctx, contract.StatusRequest{})
			cancel()
			conn.Close()
			if ok := err == nil && st.PluginVersion != ""; ok != tc.wantOK {
				t.Fatalf("Status with %s certificate = %+v, %v; want success %v", tc.name, st, err, tc.wantOK)
			}
		}
	})

	// Nothing changed, and the host's connection still works.
	if st := e.p.State(); st.PID != pid || st.Restarts != 0 || st.Phase != host.PhaseRunning {
		t.Fatalf("after the foreign clients the SDK's state is %+v; want the same process (pid %d) running", st, pid)
	}
	st, err := e.p.Status(ctx, contract.StatusRequest{})
	if err != nil || !st.Active || !st.Configured {
		t.Fatalf("Status through the host = %+v, %v; want active and configured, as before", st, err)
	}
	settingsAfter, err := e.p.GetSettings(ctx, contract.GetSettingsRequest{Actor: admin})
	if err != nil || !reflect.DeepEqual(settingsAfter, settingsBefore) {
		t.Fatalf("settings after the foreign clients = %+v, %v; before %+v", settingsAfter, err, settingsBefore)
	}
	ops, err := e.p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{OperatorIDs: []string{alice.ID}, Actor: admin})
	if err != nil || len(ops.States) != 1 || !ops.States[0].Enabled {
		t.Fatalf("alice after the foreign clients = %+v, %v; want still enabled", ops, err)
	}
	if after := e.allEvents(); !reflect.DeepEqual(after, eventsBefore) {
		t.Fatalf("the foreign clients left audit events: %d before, %d after", len(eventsBefore), len(after))
	}
	if b := e.redirect(alice); b.RedirectURL == "" {
		t.Fatal("no redirect to Duo through the host after the foreign clients")
	}
}

// allEvents is the whole authentication log, newest first, read back as an
// admin (one page).
func (e *env) allEvents() []contract.AuthEvent {
	e.t.Helper()
	res, err := e.p.ListAuthEvents(ctxT(e.t), contract.ListAuthEventsRequest{Actor: admin, PageSize: 500})
	if err != nil {
		e.t.Fatalf("ListAuthEvents: %v", err)
	}
	if res.NextPageToken != "" {
		e.t.Fatal("more than one page of events: the test reads only one")
	}
	return res.Events
}
