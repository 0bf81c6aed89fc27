package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

// Helpdesk describes the vendor's helpdesk to the kit. BaseURL, Duo,
// PasswordForm (or SubmitPassword), SignedInPath (or SignedIn) and
// NewOperator are required; a journey whose optional field is nil is
// skipped, saying why.
type Helpdesk struct {
	// BaseURL is the helpdesk's address as the browser sees it, such as
	// http://127.0.0.1:8080. Every redirect after a sign-in must stay on
	// its scheme and host.
	BaseURL string

	// Duo is the simulator the vendor's plugin is configured against.
	Duo *duosim.Server

	// PasswordForm is the sign-in form: the kit asks for Path (with
	// ?<NextField>=… when a journey gives a next), fills the form whose
	// action is Action (default Path) with the username and password, and
	// keeps the form's other values (a CSRF token, say). Ignored when
	// SubmitPassword is set.
	PasswordForm PasswordForm

	// SubmitPassword, if set, signs in with a password its own way and
	// returns the answer to the submission (unfollowed). next is "" or the
	// post-login target a journey tries.
	SubmitPassword func(b *Browser, username, password, next string) (*Page, error)

	// SignedInPath is a page of the helpdesk that answers 200 only to a
	// signed-in browser (an account page, say), and anything else to one
	// that is not. Ignored when SignedIn is set.
	SignedInPath string

	// SignedIn, if set, tells whether the browser is signed in.
	SignedIn func(b *Browser) (bool, error)

	// NewOperator creates an operator with this username (lower-case
	// letters and digits) and Duo on or off for them, as an admin would,
	// and returns their password. The plugin must send the username to
	// Duo as it is (the default username format).
	NewOperator func(ctx context.Context, username string, duo bool) (password string, err error)

	// BackupCodes, if set, is called with the page the helpdesk shows
	// after Duo's callback (redirects followed), every time. When the page
	// offers an operator's first backup codes, it confirms them as the
	// operator would and returns them with the answer to the confirmation
	// (unfollowed); otherwise it returns nil codes and the page as it was.
	// Without it, a helpdesk that shows such a page fails DuoAllowed, and
	// BackupCode is skipped.
	BackupCodes func(b *Browser, p *Page) (codes []string, next *Page, err error)

	// SignInWithCode, if set, signs in with a backup code instead of Duo:
	// it is called with the answer to the password (unfollowed) and
	// returns the answer to the code's submission (unfollowed). Without
	// it, BackupCode is skipped.
	SignInWithCode func(b *Browser, afterPassword *Page, code string) (*Page, error)

	// StopPlugin, if set, stops the plugin process for good, as a crash
	// that is not restarted would, and returns once the helpdesk has seen
	// it. Without it, PluginDown is skipped. The kit does not start it
	// again: PluginDown is the last journey.
	StopPlugin func(ctx context.Context) error
}

// PasswordForm is the helpdesk's sign-in form.
type PasswordForm struct {
	Path          string // the page with the form, such as /login
	Action        string // the form's action path; default Path
	UsernameField string // default "username"
	PasswordField string // default "password"
	NextField     string // the post-login target's query parameter and field; "" when there is none
}

// kit is one run of the journeys.
type kit struct {
	h    Helpdesk
	base *url.URL
	n    int // operators created so far
}

// Run runs every journey against the helpdesk, each as a subtest of t
// named after it (TestX/DuoAllowed…), one after the other. It fails t at
// once when the Helpdesk is incomplete.
func Run(t *testing.T, h Helpdesk) {
	t.Helper()
	k, err := newKit(h)
	if err != nil {
		t.Fatalf("conformance: %v", err)
	}
	for _, j := range journeys {
		t.Run(j.name, func(t *testing.T) { j.run(t, k) })
	}
}

// Journeys lists the journeys' names in the order Run runs them.
func Journeys() []string {
	names := make([]string, len(journeys))
	for i, j := range journeys {
		names[i] = j.name
	}
	return names
}

func newKit(h Helpdesk) (*kit, error) {
	var problems []string
	base, err := url.Parse(h.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		problems = append(problems, fmt.Sprintf("BaseURL %q is not an http(s) URL", h.BaseURL))
	}
	if h.Duo == nil {
		problems = append(problems, "Duo (the simulator the plugin is configured against) is nil")
	}
	if h.SubmitPassword == nil && h.PasswordForm.Path == "" {
		problems = append(problems, "neither SubmitPassword nor PasswordForm.Path is set")
	}
	if h.SignedIn == nil && h.SignedInPath == "" {
		problems = append(problems, "neither SignedIn nor SignedInPath is set")
	}
	if h.NewOperator == nil {
		problems = append(problems, "NewOperator is nil")
	}
	if len(problems) > 0 {
		return nil, errors.New("the Helpdesk is incomplete: " + strings.Join(problems, "; "))
	}
	f := &h.PasswordForm
	if f.Action == "" {
		f.Action = f.Path
	}
	if f.UsernameField == "" {
		f.UsernameField = "username"
	}
	if f.PasswordField == "" {
		f.PasswordField = "password"
	}
	return &kit{h: h, base: base}, nil
}

// browser is a new browser, with no cookies.
func (k *kit) browser() *Browser { return newBrowser(k.base, k.h.Duo) }

// operator is a signed-up operator of the helpdesk.
type operator struct {
	username, password string
}

// newOperator creates an operator for the journey, with Duo on or off,
// and scripts the simulator's answer for them.
func (k *kit) newOperator(t testing.TB, journey string, duo bool, outcome duosim.Outcome) operator {
	t.Helper()
	k.n++
	name := fmt.Sprintf("conf%s%d", strings.ToLower(journey), k.n)
	pass, err := k.h.NewOperator(t.Context(), name, duo)
	if err != nil {
		t.Fatalf("NewOperator(%q, duo %v): %v", name, duo, err)
	}
	k.h.Duo.SetOutcome(name, outcome)
	return operator{username: name, password: pass}
}

// password signs in with the operator's password and returns the answer
// to the submission, unfollowed.
func (k *kit) password(t testing.TB, b *Browser, op operator, next string) *Page {
	t.Helper()
	if k.h.SubmitPassword != nil {
		p, err := k.h.SubmitPassword(b, op.username, op.password, next)
		if err != nil {
			t.Fatalf("password of %s: SubmitPassword: %v", op.username, err)
		}
		return p
	}
	f := k.h.PasswordForm
	target := f.Path
	if next != "" && f.NextField != "" {
		target += "?" + url.Values{f.NextField: {next}}.Encode()
	}
	page, err := b.Get(target)
	if err != nil {
		t.Fatalf("sign-in page: %v", err)
	}
	if page, err = b.Follow(page); err != nil {
		t.Fatalf("sign-in page: %v", err)
	}
	form, ok := page.Form(f.Action)
	if !ok {
		t.Fatalf("sign-in page: no form posting to %s in %s", f.Action, page)
	}
	values := url.Values{f.UsernameField: {op.username}, f.PasswordField: {op.password}}
	if next != "" && f.NextField != "" {
		values.Set(f.NextField, next)
	}
	p, err := b.Submit(form, values)
	if err != nil {
		t.Fatalf("password of %s: %v", op.username, err)
	}
	return p
}

// toDuo signs in with the password and returns where the helpdesk sends
// the browser to Duo.
func (k *kit) toDuo(t testing.TB, b *Browser, op operator, next string) (*url.URL, *Page) {
	t.Helper()
	p := k.password(t, b, op, next)
	followed, err := b.Follow(p)
	if err != nil {
		t.Fatalf("after the password of %s: %v", op.username, err)
	}
	u, ok := b.DuoLink(followed)
	if !ok {
		t.Fatalf("after the password of %s (Duo on for them), no redirect or link to Duo's authorize endpoint (https://%s/oauth/v1/authorize); the helpdesk answered %s",
			op.username, k.h.Duo.APIHost(), followed)
	}
	return u, p
}

// atDuo plays the operator at Duo's prompt: it enrols a device when
// asked, then approves (or denies), and returns Duo's redirect back to
// the helpdesk, or nil when Duo does not come back (after a deny, or when
// Duo shows an error page), with Duo's last answer.
func (k *kit) atDuo(t testing.TB, b *Browser, authURL *url.URL, approve bool) (*url.URL, *Page) {
	t.Helper()
	p, err := b.Get(authURL.String())
	if err != nil {
		t.Fatalf("at Duo: %v", err)
	}
	for range 3 {
		if p.Redirected() {
			return p.Location(), p
		}
		form, ok := p.Form("/frame/prompt")
		if p.Status != http.StatusOK || !ok {
			return nil, p // a terminal page: denied, an error, or Duo unavailable
		}
		action := "deny"
		switch {
		case strings.Contains(p.Body, `value="enroll"`):
			action = "enroll"
		case approve:
			action = "approve"
		}
		if p, err = b.Submit(form, url.Values{"action": {action}}); err != nil {
			t.Fatalf("at Duo, %s: %v", action, err)
		}
	}
	t.Fatalf("at Duo: no answer after enrolling and approving: %s", p)
	return nil, nil
}

// approveAtDuo is atDuo approving; it fails the test unless Duo sends the
// browser back.
func (k *kit) approveAtDuo(t testing.TB, b *Browser, authURL *url.URL) *url.URL {
	t.Helper()
	back, p := k.atDuo(t, b, authURL, true)
	if back == nil {
		t.Fatalf("Duo did not send the browser back after approving (is the request to Duo the plugin's RedirectURL, unchanged?); Duo answered %s", p)
	}
	return back
}

// callback asks for Duo's redirect back at the helpdesk, follows the
// helpdesk's redirects, and gives the landing page to BackupCodes, if
// set. It returns the codes BackupCodes confirmed and every page of the
// way, the last one last.
func (k *kit) callback(t testing.TB, b *Browser, back *url.URL) ([]string, []*Page) {
	t.Helper()
	first, err := b.Get(back.String())
	if err != nil {
		t.Fatalf("Duo's callback: %v", err)
	}
	pages := []*Page{first}
	last, err := b.Follow(first)
	if err != nil {
		t.Fatalf("after Duo's callback: %v", err)
	}
	pages = append(pages, last)
	var codes []string
	if k.h.BackupCodes != nil {
		codes, last, err = k.h.BackupCodes(b, last)
		if err != nil {
			t.Fatalf("after Duo's callback: BackupCodes: %v", err)
		}
		pages = append(pages, last)
		if last, err = b.Follow(last); err != nil {
			t.Fatalf("after confirming the backup codes: %v", err)
		}
		pages = append(pages, last)
	}
	return codes, pages
}

// signedIn tells whether the browser is signed in.
func (k *kit) signedIn(t testing.TB, b *Browser) bool {
	t.Helper()
	if k.h.SignedIn != nil {
		ok, err := k.h.SignedIn(b)
		if err != nil {
			t.Fatalf("SignedIn: %v", err)
		}
		return ok
	}
	p, err := b.Get(k.h.SignedInPath)
	if err != nil {
		t.Fatalf("signed-in check: %v", err)
	}
	return p.Status == http.StatusOK
}

// signInWithDuo goes all the way: password, Duo (approve), callback,
// backup codes; it fails the test unless the browser is then signed in.
// It returns the codes confirmed, if any, and the pages after the
// callback.
func (k *kit) signInWithDuo(t testing.TB, b *Browser, op operator, next string) ([]string, []*Page) {
	t.Helper()
	authURL, _ := k.toDuo(t, b, op, next)
	back := k.approveAtDuo(t, b, authURL)
	codes, pages := k.callback(t, b, back)
	if !k.signedIn(t, b) {
		t.Fatalf("%s approved at Duo and is not signed in; after the callback the helpdesk answered %s", op.username, pages[len(pages)-1])
	}
	return codes, pages
}

// refused fails the test when the browser is signed in.
func (k *kit) refused(t testing.TB, b *Browser, what string, last *Page) {
	t.Helper()
	if k.signedIn(t, b) {
		t.Errorf("%s: the browser is signed in, want refused; the helpdesk answered %s", what, last)
	}
}
