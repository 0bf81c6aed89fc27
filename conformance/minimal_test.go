package conformance_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/conformance"
	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/internal/pluginbuild"
	"github.com/helpdesk-duo/duo-plugin/internal/waitfor"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pluginbuild.Cleanup()
	os.Exit(code)
}

// minimal is the smallest helpdesk that integrates the plugin correctly,
// on the real plugin binary and the simulator: a password form, Duo's
// redirect and callback, the first backup codes, a backup code instead of
// Duo, an account page. bug, if set, breaks one thing the way vendors
// get it wrong, to show that the kit notices.
type minimal struct {
	t    *testing.T
	bug  string
	p    *host.Plugin
	sim  *duosim.Server
	base *url.URL

	mu       sync.Mutex
	users    map[string]string // username → password
	sessions map[string]*session
}

type session struct {
	user     string
	signedIn bool
	state    string // Duo's state, while the sign-in waits for the callback
	ticket   string // the backup codes' ticket, while they are shown
	next     string
}

// The bugs a vendor's integration may have, and the journeys that must
// catch each.
var bugs = map[string][]string{
	// Signs in whenever CompleteLogin returns no error, whatever it decided.
	"ignore-decision": {"DuoDeniedInToken", "CallbackOtherSession", "BackupCode"},
	// Reads the callback's parameters with Query().Get: the first of
	// repeated ones.
	"first-parameter": {"RepeatedParameters"},
	// Lets the operator in on the password when the plugin cannot answer.
	"fail-open": {"PluginDown"},
	// Redirects to next as given.
	"open-next": {"OffSiteNext"},
	// Keeps the pre-auth session's id when the operator signs in.
	"keep-session": {"CallbackReplayed"},
}

func newMinimal(t *testing.T, bug string) *minimal {
	t.Helper()
	h := &minimal{t: t, bug: bug, users: map[string]string{}, sessions: map[string]*session{}}
	h.sim = duosim.StartTest(t, duosim.Config{})
	srv := httptest.NewServer(h.routes())
	t.Cleanup(srv.Close)
	h.base, _ = url.Parse(srv.URL)
	dataDir := t.TempDir()
	p, err := host.Start(t.Context(), host.Options{
		ManifestPath: pluginbuild.ForTest(t),
		Activation: func(context.Context) (contract.ActivateRequest, bool, error) {
			return contract.ActivateRequest{CallbackURL: srv.URL + "/duo/callback", DataDir: dataDir,
				Actor: contract.Actor{ID: "system", Role: contract.RoleSystem}}, true, nil
		},
		// The default health cache: DuoUnreachable then meets a plugin that
		// still believes Duo healthy, and a Duo that answers with an error page.
		Env:         []string{"DUO_PLUGIN_ALLOW_TEST_DUO_HOST=true"},
		MaxRestarts: -1, // StopPlugin's kill is for good
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	h.p = p
	app := h.sim.Apps()[0]
	res, err := p.UpdateSettings(t.Context(), contract.UpdateSettingsRequest{Actor: contract.Actor{ID: "system", Role: contract.RoleSystem},
		Values: map[string]string{"client_id": app.ClientID, "client_secret": app.ClientSecret.Reveal(),
			"api_hostname": h.sim.APIHost(), "ca_file": h.sim.CAFile()}})
	if err != nil || !res.Saved {
		t.Fatalf("UpdateSettings = %+v, %v", res, err)
	}
	return h
}

// kit is the Helpdesk adapter of the minimal helpdesk.
func (h *minimal) kit() conformance.Helpdesk {
	return conformance.Helpdesk{
		BaseURL:      h.base.String(),
		Duo:          h.sim,
		PasswordForm: conformance.PasswordForm{Path: "/login", NextField: "next"},
		SignedInPath: "/account",
		NewOperator: func(ctx context.Context, username string, duo bool) (string, error) {
			pass := newID()
			h.mu.Lock()
			h.users[username] = pass
			h.mu.Unlock()
			_, err := h.p.SetOperatorEnabled(ctx, contract.SetOperatorEnabledRequest{Operator: operator(username), Enabled: duo,
				Actor: contract.Actor{ID: "system", Role: contract.RoleSystem}})
			return pass, err
		},
		BackupCodes: func(b *conformance.Browser, p *conformance.Page) ([]string, *conformance.Page, error) {
			f, ok := p.Form("/login/backup-codes")
			if !ok {
				return nil, p, nil
			}
			var codes []string
			for _, m := range regexp.MustCompile(`<li class="code">([^<]+)</li>`).FindAllStringSubmatch(p.Body, -1) {
				codes = append(codes, m[1])
			}
			next, err := b.Submit(f, nil)
			return codes, next, err
		},
		SignInWithCode: func(b *conformance.Browser, _ *conformance.Page, code string) (*conformance.Page, error) {
			return b.Post("/login/code", url.Values{"code": {code}})
		},
		StopPlugin: func(context.Context) error {
			pid := h.p.State().PID
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				return fmt.Errorf("kill plugin %d: %w", pid, err)
			}
			waitfor.Until(h.t, 10*time.Second, "the plugin to be seen down", func() bool { return h.p.State().Phase != host.PhaseRunning })
			return nil
		},
	}
}

func operator(username string) contract.Operator {
	return contract.Operator{ID: username, Username: username, Role: contract.RoleAgent}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var loginPage = template.Must(template.New("").Parse(`<form method="post" action="/login">
<input type="hidden" name="next" value="{{.}}"><input name="username"><input type="password" name="password"></form>`))

var codesPage = template.Must(template.New("").Parse(`<ul>{{range .}}<li class="code">{{.}}</li>{{end}}</ul>
<form method="post" action="/login/backup-codes"><button>I have saved them</button></form>`))

func (h *minimal) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		_ = loginPage.Execute(w, r.URL.Query().Get("next"))
	})
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("GET /duo/callback", h.callback)
	mux.HandleFunc("POST /login/backup-codes", h.confirmCodes)
	mux.HandleFunc("POST /login/code", h.code)
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		if _, now := h.session(r); !now.signedIn {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		fmt.Fprintln(w, "your account")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "home") })
	return mux
}

// session is the browser's session (nil for none), and a copy of it read
// under the lock.
func (h *minimal) session(r *http.Request) (*session, session) {
	c, err := r.Cookie("sid")
	if err != nil {
		return nil, session{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[c.Value]
	if s == nil {
		return nil, session{}
	}
	return s, *s
}

// start gives the browser a new session.
func (h *minimal) start(w http.ResponseWriter, s *session) {
	id := newID()
	h.mu.Lock()
	h.sessions[id] = s
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: id, Path: "/", HttpOnly: true})
}

// signIn signs the browser in under a new session id: whoever held the
// pre-auth one is not signed in with it.
func (h *minimal) signIn(w http.ResponseWriter, r *http.Request, s *session) {
	h.mu.Lock()
	s.signedIn, s.state, s.ticket = true, "", ""
	next := s.next
	h.mu.Unlock()
	if h.bug != "keep-session" {
		if c, err := r.Cookie("sid"); err == nil {
			h.mu.Lock()
			delete(h.sessions, c.Value)
			h.mu.Unlock()
		}
		h.start(w, s)
	}
	if h.bug != "open-next" && (!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, `\`) || strings.Contains(next, "%")) {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func refuse(w http.ResponseWriter) { http.Error(w, "sign-in refused", http.StatusForbidden) }

func (h *minimal) login(w http.ResponseWriter, r *http.Request) {
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	h.mu.Lock()
	want, ok := h.users[user]
	h.mu.Unlock()
	if !ok || pass != want {
		refuse(w)
		return
	}
	s := &session{user: user, next: r.PostFormValue("next")}
	h.start(w, s) // pre-auth
	res, err := h.p.BeginLogin(r.Context(), contract.BeginLoginRequest{Operator: operator(user)})
	switch {
	case err != nil && h.bug == "fail-open":
		h.signIn(w, r, s)
	case err != nil:
		refuse(w)
	case res.Decision == contract.DecisionNotRequired:
		h.signIn(w, r, s)
	case res.Decision == contract.DecisionRedirect:
		h.mu.Lock()
		s.state = res.State
		h.mu.Unlock()
		http.Redirect(w, r, res.RedirectURL, http.StatusSeeOther)
	default:
		refuse(w)
	}
}

func (h *minimal) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if h.bug != "first-parameter" && (len(q["state"]) != 1 || len(q["duo_code"]) != 1) {
		http.Error(w, "bad callback", http.StatusBadRequest)
		return
	}
	s, now := h.session(r)
	if s == nil || now.state == "" {
		refuse(w)
		return
	}
	h.mu.Lock()
	s.state = "" // one callback per state
	h.mu.Unlock()
	res, err := h.p.CompleteLogin(r.Context(), contract.CompleteLoginRequest{Operator: operator(now.user),
		SessionState: now.state, CallbackState: q.Get("state"), DuoCode: q.Get("duo_code")})
	h.finish(w, r, s, res, err)
}

// finish acts on the plugin's answer to a second factor.
func (h *minimal) finish(w http.ResponseWriter, r *http.Request, s *session, res contract.CompleteLoginResponse, err error) {
	switch {
	case err == nil && h.bug == "ignore-decision" && res.Decision != contract.DecisionConfirmBackupCodes:
		h.signIn(w, r, s)
	case err != nil:
		refuse(w)
	case res.Decision == contract.DecisionAllowed:
		h.signIn(w, r, s)
	case res.Decision == contract.DecisionConfirmBackupCodes:
		h.mu.Lock()
		s.ticket = res.BackupCodesTicket // never the codes
		h.mu.Unlock()
		_ = codesPage.Execute(w, res.BackupCodes)
	default:
		refuse(w)
	}
}

func (h *minimal) confirmCodes(w http.ResponseWriter, r *http.Request) {
	s, now := h.session(r)
	if s == nil || now.ticket == "" {
		refuse(w)
		return
	}
	res, err := h.p.ConfirmBackupCodes(r.Context(), contract.ConfirmBackupCodesRequest{Operator: operator(now.user), Ticket: now.ticket})
	h.finish(w, r, s, res, err)
}

// code takes a backup code instead of Duo, in a sign-in whose password
// was right and which waits for Duo.
func (h *minimal) code(w http.ResponseWriter, r *http.Request) {
	s, now := h.session(r)
	if s == nil || now.state == "" {
		refuse(w)
		return
	}
	res, err := h.p.RedeemCode(r.Context(), contract.RedeemCodeRequest{Operator: operator(now.user), Code: r.PostFormValue("code")})
	h.finish(w, r, s, res, err)
}

// The minimal helpdesk passes every journey.
func TestMinimalHelpdeskPasses(t *testing.T) {
	t.Parallel()
	conformance.Run(t, newMinimal(t, "").kit())
}

const envBug = "CONFORMANCE_TEST_BUG"

// TestBrokenHelpdesk runs the kit against the minimal helpdesk with the
// bug named in the environment; TestKitCatchesEveryBug runs it in a
// process of its own for each bug and reads the verdicts.
func TestBrokenHelpdesk(t *testing.T) {
	bug := os.Getenv(envBug)
	if bug == "" {
		t.Skip("run by TestKitCatchesEveryBug")
	}
	conformance.Run(t, newMinimal(t, bug).kit())
}

// Each bug fails exactly the journeys that must catch it, and the others
// pass.
func TestKitCatchesEveryBug(t *testing.T) {
	t.Parallel()
	for bug, want := range bugs {
		t.Run(bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenHelpdesk$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), envBug+"="+bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a helpdesk with the bug %s:\n%s", bug, out)
			}
			var failed []string
			for _, m := range regexp.MustCompile(`--- FAIL: TestBrokenHelpdesk/(\w+)`).FindAllStringSubmatch(string(out), -1) {
				failed = append(failed, m[1])
			}
			slices.Sort(failed)
			slices.Sort(want)
			if !slices.Equal(failed, want) {
				t.Fatalf("bug %s: failed %v, want %v:\n%s", bug, failed, want, out)
			}
		})
	}
}
