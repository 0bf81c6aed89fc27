package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

// simInfo is what the simulator's process tells the harness.
type simInfo struct {
	APIHost      string `json:"api_host"`
	CAFile       string `json:"ca_file"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// serveSim is the simulator's process (-role sim): a scripted simulator
// that prints its simInfo, then answers each line on stdin with its Stats
// as JSON, and exits at EOF. A process of its own so that its CPU time is
// its own.
func serveSim() error {
	sim, err := duosim.Start(context.Background(), duosim.Config{Scripted: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer sim.Close()
	app := sim.Apps()[0]
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(simInfo{APIHost: sim.APIHost(), CAFile: sim.CAFile(), ClientID: app.ClientID,
		ClientSecret: app.ClientSecret.Reveal()}); err != nil {
		return err
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if err := enc.Encode(sim.Stats()); err != nil {
			return err
		}
	}
	return nil
}

// simProc is the harness's handle on the simulator's process.
type simProc struct {
	info simInfo
	cmd  *exec.Cmd
	mu   sync.Mutex
	in   io.WriteCloser
	out  *json.Decoder
	pool *x509.CertPool
}

func startSim() (*simProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-role", "sim")
	cmd.Stderr = io.Discard
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &simProc{cmd: cmd, in: in, out: json.NewDecoder(out)}
	if err := s.out.Decode(&s.info); err != nil {
		s.close()
		return nil, fmt.Errorf("simulator: %w", err)
	}
	pem, err := os.ReadFile(s.info.CAFile)
	if err != nil {
		s.close()
		return nil, err
	}
	s.pool = x509.NewCertPool()
	if !s.pool.AppendCertsFromPEM(pem) {
		s.close()
		return nil, errors.New("simulator: bad CA file")
	}
	return s, nil
}

func (s *simProc) pid() int { return s.cmd.Process.Pid }

func (s *simProc) stats() (duosim.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var st duosim.Stats
	if _, err := io.WriteString(s.in, "stats\n"); err != nil {
		return st, err
	}
	return st, s.out.Decode(&st)
}

func (s *simProc) close() {
	_ = s.in.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// client is a keep-alive HTTPS client trusting only the simulator, with
// room for every caller's connection.
func (s *simProc) client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// browser follows an authorize URL on the scripted simulator, as the
// operator's browser would, and returns the callback's query. It counts
// the connections it opens, so that the simulator's count can be split
// between the browsers and the plugin.
type browser struct {
	hc    *http.Client
	dials *atomic.Int64
}

func newBrowser(s *simProc) browser {
	hc := s.client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	dials := new(atomic.Int64)
	tr := hc.Transport.(*http.Transport)
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	}
	return browser{hc: hc, dials: dials}
}

func (b browser) approve(authURL string) (url.Values, error) {
	resp, err := b.hc.Get(authURL)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("authorize: %d %v", resp.StatusCode, err)
	}
	return loc.Query(), nil
}
