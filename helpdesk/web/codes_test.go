package web_test

import (
	"bytes"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const goodCode = "abcde-fghij"

// codeFake answers RedeemCode: goodCode once, everything else wrong.
func codeFake(e *env) {
	used := false
	e.fake.set(func(f *fakePlugin) {
		f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "https://duo.example/authorize", State: "state-0123456789-abcdefghij"}, nil
		}
		f.redeem = func(req contract.RedeemCodeRequest) (contract.CompleteLoginResponse, error) {
			if req.Code == goodCode && !used {
				used = true
				return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
			}
			return contract.CompleteLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonCodeWrong, Message: "code_wrong (never shown)"}, nil
		}
	})
}

func TestSignInWithACode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	codeFake(e)
	c := e.client()
	c.login("alice", password, "/account")
	c.get("/login/code")
	if !strings.Contains(c.last, `action="/login/code"`) || !strings.Contains(c.last, `maxlength="64"`) || !strings.Contains(c.last, `id="verify-code"`) ||
		strings.Contains(c.last, `inputmode="numeric"`) {
		t.Fatalf("no code form:\n%s", c.last)
	}
	resp := c.postForm("/login/code", url.Values{"code": {"wrong-code"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(c.last, `id="code-error"`) || strings.Contains(c.last, "never shown") {
		t.Fatalf("wrong code: %d\n%s", resp.StatusCode, c.last)
	}
	resp = c.postForm("/login/code", url.Values{"code": {goodCode}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("good code: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), c.last)
	}
	if resp := c.get("/account"); resp.StatusCode != http.StatusOK {
		t.Fatalf("not signed in after a good code: %d", resp.StatusCode)
	}
	got := e.fake.Calls("RedeemCode")
	// The pending session is spent: the code form is gone.
	if resp := c.get("/login/code"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code form after signing in: %d", resp.StatusCode)
	}
	if got != 2 {
		t.Fatalf("RedeemCode called %d times, want 2", got)
	}
}

func TestCodeWithoutPasswordIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	codeFake(e)
	c := e.client()
	c.get("/login") // an anonymous session, no password
	resp := c.postForm("/login/code", url.Values{"code": {goodCode}})
	if resp.StatusCode != http.StatusBadRequest || e.fake.Calls("RedeemCode") != 0 {
		t.Fatalf("code without a password: %d, RedeemCode called %d times", resp.StatusCode, e.fake.Calls("RedeemCode"))
	}
}

// A refusal after a correct password offers a code, which then works.
func TestRefusalOffersACode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.activate()
	codeFake(e)
	e.fake.set(func(f *fakePlugin) {
		f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionDenied, Reason: contract.LoginReasonDuoUnavailable, Message: "Duo cannot be reached."}, nil
		}
	})
	c := e.client()
	resp := c.login("alice", password, "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(c.last, `id="use-code"`) {
		t.Fatalf("refusal: %d\n%s", resp.StatusCode, c.last)
	}
	c.get("/login/code")
	if resp := c.postForm("/login/code", url.Values{"code": {goodCode}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code after a refusal: %d\n%s", resp.StatusCode, c.last)
	}
}

// The first Duo setup shows backup codes, and the sign-in completes only
// once the operator confirms saving them.
func TestFirstBackupCodesMustBeConfirmed(t *testing.T) {
	t.Parallel()
	const state = "state-0123456789-abcdefghij"
	codes := []string{"aaaaa-bbbbb", "ccccc-ddddd"}
	e := newEnv(t, envOpts{})
	e.activate()
	var gotTicket string
	e.fake.set(func(f *fakePlugin) {
		f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
			return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "https://duo.example/authorize", State: state}, nil
		}
		f.complete = func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
			return contract.CompleteLoginResponse{Decision: contract.DecisionConfirmBackupCodes, BackupCodes: codes, BackupCodesTicket: "the-ticket"}, nil
		}
		f.confirm = func(req contract.ConfirmBackupCodesRequest) (contract.CompleteLoginResponse, error) {
			gotTicket = req.Ticket
			return contract.CompleteLoginResponse{Decision: contract.DecisionAllowed}, nil
		}
	})
	c := e.client()
	c.login("alice", password, "/account")
	resp := c.get("/login/duo/callback?duo_code=c&state=" + state)
	if resp.StatusCode != http.StatusOK || !strings.Contains(c.last, codes[0]) || !strings.Contains(c.last, codes[1]) ||
		!strings.Contains(c.last, `download="backup-codes.txt"`) || !strings.Contains(c.last, `href="data:text/plain;charset=utf-8,Backup%20codes`) {
		t.Fatalf("backup codes page: %d\n%s", resp.StatusCode, c.last)
	}
	if strings.Contains(html.UnescapeString(c.last), "the-ticket") {
		t.Fatal("the ticket reached the browser")
	}
	page := c.last
	if resp := c.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("signed in before confirming the backup codes")
	}
	// The helpdesk keeps only the ticket, never the codes.
	if db := e.dbBytes(); !bytes.Contains(db, []byte("the-ticket")) || bytes.Contains(db, []byte(codes[0])) || bytes.Contains(db, []byte(codes[1])) {
		t.Fatalf("the database files hold the ticket: %v, a code: %v", bytes.Contains(db, []byte("the-ticket")), bytes.Contains(db, []byte(codes[0])))
	}
	c.last = page
	// Without the tick nothing is issued, and the page shows the codes it
	// carried back (and nothing else) beside its error.
	if resp := c.postForm("/login/backup-codes", url.Values{"code": {codes[0], codes[1], "<b>junk</b>"}}); resp.StatusCode != http.StatusUnprocessableEntity ||
		e.fake.Calls("ConfirmBackupCodes") != 0 || !strings.Contains(c.last, codes[1]) || strings.Contains(html.UnescapeString(c.last), "<b>junk</b>") {
		t.Fatalf("finish without the tick: %d, confirmed %d times\n%s", resp.StatusCode, e.fake.Calls("ConfirmBackupCodes"), c.last)
	}
	resp = c.postForm("/login/backup-codes", url.Values{"saved": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" || gotTicket != "the-ticket" {
		t.Fatalf("finish: %d %s (ticket %q)", resp.StatusCode, resp.Header.Get("Location"), gotTicket)
	}
	if resp := c.get("/account"); resp.StatusCode != http.StatusOK || !strings.Contains(c.last, "backup codes are saved") {
		t.Fatalf("after confirming: %d\n%s", resp.StatusCode, c.last)
	}
}

// New backup codes, or one's own Duo off, refused: the operator reads
// what to do about it, never the plugin's words for admins; the log keeps
// the plugin's reason.
func TestAccountRefusalsSayWhatToDo(t *testing.T) {
	t.Parallel()
	regen := func(f *fakePlugin, err error) {
		f.regen = func(contract.RegenerateBackupCodesRequest) (contract.RegenerateBackupCodesResponse, error) {
			return contract.RegenerateBackupCodesResponse{}, err
		}
	}
	disable := func(f *fakePlugin, err error) {
		f.setEnabled = func(contract.SetOperatorEnabledRequest) (contract.SetOperatorEnabledResponse, error) {
			return contract.SetOperatorEnabledResponse{}, err
		}
	}
	for _, tc := range []struct {
		path   string
		refuse func(*fakePlugin, error)
		reason contract.ErrorReason
		want   string
	}{
		{"/account/backup-codes", regen, contract.ReasonReauthenticate, "for new backup codes, sign out and sign in again"},
		{"/account/backup-codes", regen, contract.ReasonNoBackupCodes, "no backup codes to replace yet"},
		{"/account/duo/disable", disable, contract.ReasonReauthenticate, "to turn Duo off, sign out and sign in again"},
		{"/account/duo/disable", disable, contract.ReasonPermission, "does not let operators turn Duo off"},
	} {
		t.Run(tc.path+" "+string(tc.reason), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{})
			e.activate()
			e.fake.set(func(f *fakePlugin) { tc.refuse(f, contract.Errorf(tc.reason, "plugin words for admins")) })
			c := e.client()
			c.signedIn("alice")
			c.get("/account")
			if resp := c.postForm(tc.path, url.Values{"password": {password}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST %s: %d", tc.path, resp.StatusCode)
			}
			c.get("/account")
			if !strings.Contains(c.last, tc.want) || strings.Contains(c.last, "plugin words for admins") {
				t.Fatalf("refusal shown as:\n%s", c.last)
			}
			if !strings.Contains(e.logs(), "reason="+string(tc.reason)) {
				t.Fatalf("the log lost the reason:\n%s", e.logs())
			}
		})
	}
}

// Reloading the page of first backup codes cannot show them again (they
// are not stored): the sign-in ends, nothing is issued, and the next one
// brings a new set. So does a confirmation that brings no codes back.
func TestFirstBackupCodesAreNotShownTwice(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"reload", "post without codes"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			const state = "state-0123456789-abcdefghij"
			e := newEnv(t, envOpts{})
			e.activate()
			e.fake.set(func(f *fakePlugin) {
				f.begin = func(contract.Operator) (contract.BeginLoginResponse, error) {
					return contract.BeginLoginResponse{Decision: contract.DecisionRedirect, RedirectURL: "https://duo.example/authorize", State: state}, nil
				}
				f.complete = func(contract.CompleteLoginRequest) (contract.CompleteLoginResponse, error) {
					return contract.CompleteLoginResponse{Decision: contract.DecisionConfirmBackupCodes, BackupCodes: []string{"aaaaa-bbbbb"}, BackupCodesTicket: "t"}, nil
				}
			})
			c := e.client()
			c.login("alice", password, "")
			c.get("/login/duo/callback?duo_code=c&state=" + state)
			csrf := c.csrf()
			var resp *http.Response
			if how == "reload" {
				resp = c.get("/login/backup-codes")
			} else {
				resp = c.post("/login/backup-codes", url.Values{"csrf_token": {csrf}})
			}
			if resp.StatusCode != http.StatusGone || !strings.Contains(c.last, "shown only once") {
				t.Fatalf("%s: %d\n%s", how, resp.StatusCode, c.last)
			}
			if resp := c.post("/login/backup-codes", url.Values{"csrf_token": {csrf}, "saved": {"yes"}}); resp.StatusCode == http.StatusSeeOther ||
				e.fake.Calls("ConfirmBackupCodes") != 0 {
				t.Fatalf("confirm after the sign-in ended: %d, confirmed %d times", resp.StatusCode, e.fake.Calls("ConfirmBackupCodes"))
			}
			if resp := c.get("/"); resp.StatusCode != http.StatusSeeOther {
				t.Fatal("signed in")
			}
		})
	}
}
