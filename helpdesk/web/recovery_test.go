package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/web"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

func operatorID(t *testing.T, e *env, username string) string {
	t.Helper()
	op, err := e.st.OperatorByUsername(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(op.ID, 10)
}

// The help desk sees the operators' second factors and issues bypass codes;
// it may not change settings, toggles or aliases, nor send recovery links.
func TestHelpDeskSeesOnlyWhatItMayDo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	h := e.client()
	h.signedIn("helen")
	if !strings.Contains(h.last, `id="nav-operators"`) || strings.Contains(h.last, `id="nav-plugins"`) || strings.Contains(h.last, `id="nav-outbox"`) {
		t.Fatalf("help desk navigation:\n%s", h.last)
	}
	if resp := h.get("/admin/operators"); resp.StatusCode != http.StatusOK || strings.Contains(h.last, `id="enable-alice"`) ||
		strings.Contains(h.last, `id="alias-alice"`) || !strings.Contains(h.last, `id="recovery-alice"`) {
		t.Fatalf("help desk on the Operators page: %d\n%s", resp.StatusCode, h.last)
	}
	for _, path := range []string{"/admin/plugins", "/admin/outbox", "/admin/operators/" + operatorID(t, e, "alice") + "/recovery-link"} {
		if resp := h.get(path); resp.StatusCode != http.StatusForbidden {
			t.Errorf("help desk at %s: %d, want 403", path, resp.StatusCode)
		}
	}
	alice := operatorID(t, e, "alice")
	h.get("/admin/operators/" + alice)
	if strings.Contains(h.last, `id="recovery-link"`) {
		t.Fatal("the help desk is offered a recovery link")
	}
	if strings.Contains(h.last, `id="bypass-uses"`) || !strings.Contains(h.last, `id="issue-bypass-code"`) {
		t.Fatalf("the help desk's form for an agent:\n%s", h.last)
	}
	resp := h.postForm("/admin/operators/"+alice+"/bypass", url.Values{})
	if resp.StatusCode != http.StatusOK || !strings.Contains(h.last, `<code id="bypass-code">12345-67890</code>`) {
		t.Fatalf("issue a bypass code: %d\n%s", resp.StatusCode, h.last)
	}
	// The plugin is told the operator's role, and the page offers the help
	// desk nothing for an admin or for helen herself.
	e.fake.set(func(f *fakePlugin) {
		if len(f.issued) != 1 || f.issued[0].OperatorRole != contract.RoleAgent || f.issued[0].Uses != 0 || f.issued[0].LifetimeSeconds != 0 {
			t.Errorf("IssueBypassCode requests = %+v, want one for an agent with the defaults", f.issued)
		}
	})
	for _, who := range []string{"admin", "helen"} {
		h.get("/admin/operators/" + operatorID(t, e, who))
		if strings.Contains(h.last, `id="issue-bypass-code"`) || !strings.Contains(h.last, `id="cannot-issue-bypass"`) {
			t.Fatalf("the help desk on %s's page is offered a bypass code:\n%s", who, h.last)
		}
	}
	// Every call carried the help desk's role; an agent is not let in at all.
	for _, a := range e.fake.actors {
		if a.Role != contract.RoleHelpDesk || a.Username != "helen" {
			t.Fatalf("a call carried actor %+v, want helen as help desk", a)
		}
	}
	a := e.client()
	a.signedIn("bob")
	if resp := a.get("/admin/operators/" + alice); resp.StatusCode != http.StatusForbidden || !strings.Contains(a.last, "Admins and help desk only") {
		t.Fatalf("agent on an operator's page: %d\n%s", resp.StatusCode, a.last)
	}
	// With the session's real CSRF token, so that the role check is what
	// refuses the agent.
	a.get("/")
	if resp := a.postForm("/admin/operators/"+alice+"/bypass", url.Values{}); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(a.last, "Admins and help desk only") || strings.Contains(a.last, "This form has expired") {
		t.Fatalf("agent issues a bypass code: %d, want 403 for the role\n%s", resp.StatusCode, a.last)
	}
	// And the help desk is refused the admins' pages, for their role.
	h.get("/")
	if resp := h.postForm("/admin/operators/"+alice+"/recovery-link", url.Values{}); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(h.last, "Admins only") {
		t.Fatalf("help desk sends a recovery link: %d, want 403 for the role\n%s", resp.StatusCode, h.last)
	}
	if n := e.fake.Calls("CreateRecoveryLink"); n != 0 {
		t.Fatalf("CreateRecoveryLink called %d times", n)
	}
	if n := e.fake.Calls("IssueBypassCode"); n != 1 {
		t.Fatalf("IssueBypassCode called %d times, want 1", n)
	}
}

// An admin mails a recovery link; the operator uses it with their password
// and is signed in once; a used link says so.
func TestRecoveryLinkJourney(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	used := false
	e.fake.set(func(f *fakePlugin) {
		f.recover = func(req contract.RedeemRecoveryLinkRequest) (contract.CompleteLoginResponse, error) {
			if req.Token != "recovery-token-for-"+req.Operator.ID {
				return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonLinkUnknown}, nil
			}
			if used {
				return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonLinkUsed}, nil
			}
			used = true
			return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
		}
	})
	admin := e.client()
	admin.signedIn("admin")
	alice := operatorID(t, e, "alice")
	admin.get("/admin/operators/" + alice + "/recovery-link")
	if !strings.Contains(admin.last, "alice@example.com") {
		t.Fatalf("confirmation page:\n%s", admin.last)
	}
	if resp := admin.postForm("/admin/operators/"+alice+"/recovery-link", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d\n%s", resp.StatusCode, admin.last)
	}
	sent := e.mail.all()
	if len(sent) != 1 || sent[0].To != "alice@example.com" {
		t.Fatalf("mailed %+v", sent)
	}
	var link string
	for _, line := range strings.Split(sent[0].Text, "\n") {
		if strings.Contains(line, "/recover?token=") {
			link = line
		}
	}
	u, err := url.Parse(link)
	if err != nil || link == "" {
		t.Fatalf("no link in the mail:\n%s", sent[0].Text)
	}
	if base, _ := url.Parse(e.srv.URL); link != web.RecoveryURL(base, "recovery-token-for-"+alice) {
		t.Fatalf("the mail's link %q is not RecoveryURL's", link)
	}

	c := e.client()
	c.get(u.RequestURI())
	// Someone else's password does not use alice's link.
	if resp := c.postForm("/recover", url.Values{"token": {u.Query().Get("token")}, "username": {"bob"}, "password": {password}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob with alice's link: %d\n%s", resp.StatusCode, c.last)
	}
	c.get(u.RequestURI())
	if resp := c.postForm("/recover", url.Values{"token": {u.Query().Get("token")}, "username": {"alice"}, "password": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp := c.postForm("/recover", url.Values{"token": {u.Query().Get("token")}, "username": {"alice"}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("recover: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), c.last)
	}
	c.get("/account")
	if !strings.Contains(c.last, "two-factor authentication was reset") {
		t.Fatalf("no word of the reset:\n%s", c.last)
	}
	d := e.client()
	d.get(u.RequestURI())
	if resp := d.postForm("/recover", url.Values{"token": {u.Query().Get("token")}, "username": {"alice"}, "password": {password}}); resp.StatusCode != http.StatusForbidden ||
		!strings.Contains(d.last, "already used") {
		t.Fatalf("the link a second time: %d\n%s", resp.StatusCode, d.last)
	}
}

func TestOutboxIsForAdmins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	if err := e.st.AppendOutbox(t.Context(), store.OutboxMail{To: "alice@example.com", Subject: "Hello", Text: "secret link"}); err != nil {
		t.Fatal(err)
	}
	a := e.client()
	a.signedIn("admin")
	if resp := a.get("/admin/outbox"); resp.StatusCode != http.StatusOK || !strings.Contains(a.last, "secret link") {
		t.Fatalf("admin outbox: %d\n%s", resp.StatusCode, a.last)
	}
	h := e.client()
	h.signedIn("helen")
	if resp := h.get("/admin/outbox"); resp.StatusCode != http.StatusForbidden || strings.Contains(h.last, "secret link") {
		t.Fatalf("help desk outbox: %d", resp.StatusCode)
	}
}

// The admin's bypass form: a number that is not one is refused with a word
// and nothing is issued; the plugin hears the target's role.
func TestBypassFormChecksItsNumbers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	a := e.client()
	a.signedIn("admin")
	bob := operatorID(t, e, "bob")
	for _, v := range []url.Values{{"uses": {"two"}}, {"uses": {"0"}}, {"hours": {"1.5"}}, {"hours": {"-3"}}} {
		a.get("/admin/operators/" + bob)
		a.postForm("/admin/operators/"+bob+"/bypass", v)
		a.get("/admin/operators/" + bob)
		if !strings.Contains(a.last, "not a whole number of at least 1") {
			t.Fatalf("bypass form with %v: no error shown\n%s", v, a.last)
		}
	}
	if n := e.fake.Calls("IssueBypassCode"); n != 0 {
		t.Fatalf("IssueBypassCode called %d times for bad numbers", n)
	}
	a.get("/admin/operators/" + bob)
	a.postForm("/admin/operators/"+bob+"/bypass", url.Values{"uses": {" 3 "}, "hours": {"48"}})
	e.fake.set(func(f *fakePlugin) {
		if len(f.issued) != 1 || f.issued[0].Uses != 3 || f.issued[0].LifetimeSeconds != 48*3600 || f.issued[0].OperatorRole != contract.RoleAgent {
			t.Errorf("issued %+v", f.issued)
		}
	})
	// Not for themselves.
	a.get("/admin/operators/" + operatorID(t, e, "admin"))
	if !strings.Contains(a.last, `id="cannot-issue-bypass"`) {
		t.Fatalf("an admin is offered a bypass code for themselves:\n%s", a.last)
	}
}

// Opening a recovery link while signed in uses nothing and keeps the
// session: the page says who is signed in and to sign out first.
func TestRecoveryLinkWhileSignedIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	a := e.client()
	a.signedIn("admin")
	if resp := a.get("/recover?token=some-token"); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(a.last, `id="recover-signed-in"`) || strings.Contains(a.last, `id="recover"`) {
		t.Fatalf("recovery link while signed in: %d\n%s", resp.StatusCode, a.last)
	}
	if resp := a.postForm("/recover", url.Values{"token": {"some-token"}, "username": {"alice"}, "password": {password}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("posting a recovery link while signed in: %d", resp.StatusCode)
	}
	if n := e.fake.Calls("RedeemRecoveryLink"); n != 0 {
		t.Fatalf("RedeemRecoveryLink called %d times", n)
	}
	if resp := a.get("/admin/operators"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the admin was signed out by the link: %d", resp.StatusCode)
	}
}

// A bypass code once issued is shown, even when reading the rest of the
// operator's page fails after it: it is valid, and never shown again.
func TestIssuedBypassCodeIsAlwaysShown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spoil func(f *fakePlugin)
	}{
		{"listing fails", func(f *fakePlugin) {
			f.listCodes = func(contract.ListBypassCodesRequest) (contract.ListBypassCodesResponse, error) {
				return contract.ListBypassCodesResponse{}, contract.Errorf(contract.ReasonInternal, "store is locked")
			}
		}},
		{"states fail", func(f *fakePlugin) {
			f.states = func(contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
				return contract.GetOperatorStatesResponse{}, errBoom
			}
		}},
		{"states for no one", func(f *fakePlugin) {
			f.states = func(contract.GetOperatorStatesRequest) (contract.GetOperatorStatesResponse, error) {
				return contract.GetOperatorStatesResponse{}, nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			e.activate()
			a := e.client()
			a.signedIn("admin")
			bob := operatorID(t, e, "bob")
			a.get("/admin/operators/" + bob)
			e.fake.set(tc.spoil)
			resp := a.postForm("/admin/operators/"+bob+"/bypass", url.Values{})
			if resp.StatusCode != http.StatusOK || !strings.Contains(a.last, `<code id="bypass-code">12345-67890</code>`) {
				t.Fatalf("issue with the page unreadable: %d, want 200 with the code\n%s", resp.StatusCode, a.last)
			}
			// The page says what it could not show, and shows nothing it
			// did not read.
			if !strings.Contains(a.last, `id="operator-unread"`) || strings.Contains(a.last, `id="duo-state"`) ||
				strings.Contains(a.last, `id="no-bypass-codes"`) {
				t.Fatalf("the page does not say what is missing:\n%s", a.last)
			}
			if n := e.fake.Calls("IssueBypassCode"); n != 1 {
				t.Fatalf("IssueBypassCode called %d times, want 1", n)
			}
			if !strings.Contains(e.logs(), "read the second factor after issuing a bypass code") {
				t.Fatalf("the failure is not logged:\n%s", e.logs())
			}
			// Opening the page plainly still fails the usual way.
			if resp := a.get("/admin/operators/" + bob); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/operators" {
				t.Fatalf("operator page while unreadable: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}

	// Read in the same plugin call as the issue, the page shows the state
	// and the new code in the list.
	e := newEnv(t, envOpts{})
	e.activate()
	e.fake.set(func(f *fakePlugin) {
		f.listCodes = func(req contract.ListBypassCodesRequest) (contract.ListBypassCodesResponse, error) {
			return contract.ListBypassCodesResponse{BypassCodes: []contract.BypassCode{{ID: "b1", OperatorID: req.OperatorID, UsesLeft: 1,
				IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}}}, nil
		}
	})
	a := e.client()
	a.signedIn("admin")
	bob := operatorID(t, e, "bob")
	a.get("/admin/operators/" + bob)
	if resp := a.postForm("/admin/operators/"+bob+"/bypass", url.Values{}); resp.StatusCode != http.StatusOK ||
		!strings.Contains(a.last, `id="bypass-code"`) || !strings.Contains(a.last, `id="bypass-b1"`) || !strings.Contains(a.last, `id="duo-state"`) ||
		strings.Contains(a.last, `id="operator-unread"`) {
		t.Fatalf("issue: %d\n%s", resp.StatusCode, a.last)
	}
}

// Without mail, a recovery link is not even created: it could reach no one.
func TestRecoveryLinkWithoutMail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{web: func(c *web.Config) { c.Mail = nil }})
	e.activate()
	a := e.client()
	a.signedIn("admin")
	alice := operatorID(t, e, "alice")
	a.get("/admin/operators/" + alice + "/recovery-link")
	if resp := a.postForm("/admin/operators/"+alice+"/recovery-link", url.Values{}); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/admin/operators/"+alice {
		t.Fatalf("send without mail: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	a.get("/admin/operators/" + alice)
	if !strings.Contains(a.last, "No mail is configured") {
		t.Fatalf("no word that mail is missing:\n%s", a.last)
	}
	if n := e.fake.Calls("CreateRecoveryLink"); n != 0 {
		t.Fatalf("CreateRecoveryLink called %d times without mail", n)
	}
}

func TestRecoveryURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ base, token, want string }{
		{"http://127.0.0.1:8080", "abc_DEF-123", "http://127.0.0.1:8080/recover?token=abc_DEF-123"},
		{"https://helpdesk.example/", "t", "https://helpdesk.example/recover?token=t"},
		{"https://helpdesk.example/support/?x=1#top", "a+b/c=", "https://helpdesk.example/support/recover?token=a%2Bb%2Fc%3D"},
	} {
		base, err := url.Parse(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		if got := web.RecoveryURL(base, tc.token); got != tc.want {
			t.Errorf("RecoveryURL(%s, %q) = %q, want %q", tc.base, tc.token, got, tc.want)
		}
		if base.String() != tc.base {
			t.Errorf("RecoveryURL changed its base to %s", base)
		}
		msg := web.RecoveryMail(base, "Helpdesk", store.Operator{Username: "ada", Email: "ada@example.com"},
			contract.CreateRecoveryLinkResponse{Token: tc.token, ExpiresAt: time.Now().Add(time.Hour)})
		if !strings.Contains(msg.Text, "\n"+tc.want+"\n") || msg.To != "ada@example.com" {
			t.Errorf("the mail does not carry %s on a line of its own:\n%s", tc.want, msg.Text)
		}
	}
}
