package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
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
	if resp := a.get("/admin/operators/" + alice); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("agent on an operator's page: %d", resp.StatusCode)
	}
	if resp := a.post("/admin/operators/"+alice+"/bypass", url.Values{"csrf_token": {"x"}}); resp.StatusCode == http.StatusOK {
		t.Fatalf("agent issued a bypass code: %d", resp.StatusCode)
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
