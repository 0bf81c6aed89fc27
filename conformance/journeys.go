package conformance

import (
	"net/url"
	"strings"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
)

type journey struct {
	name string
	run  func(t *testing.T, k *kit)
}

// journeys in the order they run: the ones that break Duo or the plugin
// last.
var journeys = []journey{
	{"DuoAllowed", duoAllowed},
	{"DuoDeniedAtPrompt", duoDeniedAtPrompt},
	{"DuoDeniedInToken", duoDeniedInToken},
	{"CallbackReplayed", callbackReplayed},
	{"CallbackOtherSession", callbackOtherSession},
	{"RepeatedParameters", repeatedParameters},
	{"OffSiteNext", offSiteNext},
	{"WithoutDuo", withoutDuo},
	{"BackupCode", backupCode},
	{"DuoUnreachable", duoUnreachable},
	{"PluginDown", pluginDown},
}

// An operator's first sign-in with Duo, with enrolment and the first
// backup codes, then a second one in a fresh browser: both signed in.
func duoAllowed(t *testing.T, k *kit) {
	op := k.newOperator(t, "allowed", true, duosim.OutcomeInteractive)
	k.signInWithDuo(t, k.browser(), op, "")
	k.signInWithDuo(t, k.browser(), op, "")
}

// The operator presses Deny at Duo's prompt: Duo does not come back, and
// the browser holds a session that is not signed in.
func duoDeniedAtPrompt(t *testing.T, k *kit) {
	op := k.newOperator(t, "deniedprompt", true, duosim.OutcomeInteractive)
	b := k.browser()
	authURL, p := k.toDuo(t, b, op, "")
	if back, _ := k.atDuo(t, b, authURL, false); back != nil {
		t.Fatalf("the simulator came back after a deny: %s", redact(back.String()))
	}
	k.refused(t, b, "after the password and a deny at Duo's prompt", p)
}

// Duo comes back to the callback, but its answer (in the id_token the
// plugin fetches) is a deny or a fraud report: the helpdesk must act on
// the plugin's decision, not on Duo having come back.
func duoDeniedInToken(t *testing.T, k *kit) {
	for _, outcome := range []duosim.Outcome{duosim.OutcomeDeny, duosim.OutcomeFraud} {
		op := k.newOperator(t, "deniedtoken", true, outcome)
		b := k.browser()
		authURL, _ := k.toDuo(t, b, op, "")
		back := k.approveAtDuo(t, b, authURL)
		_, pages := k.callback(t, b, back)
		k.refused(t, b, "Duo's callback carrying a "+string(outcome), pages[len(pages)-1])
	}
}

// enrolled is an operator who has signed in with Duo once (enrolled,
// first backup codes confirmed), so that later sign-ins are plain.
func (k *kit) enrolled(t *testing.T, journey string) operator {
	t.Helper()
	op := k.newOperator(t, journey, true, duosim.OutcomeInteractive)
	k.signInWithDuo(t, k.browser(), op, "")
	return op
}

// The callback that signed a browser in is asked for again with the
// same cookies (another tab, a back button, a copy of the browser's
// session in other hands), and in a browser with no cookies: refused
// both times. The pre-auth cookie must not be signed in either: the
// session is renewed at sign-in.
func callbackReplayed(t *testing.T, k *kit) {
	op := k.enrolled(t, "replay")
	b := k.browser()
	authURL, _ := k.toDuo(t, b, op, "")
	back := k.approveAtDuo(t, b, authURL)
	copyOfSession := b.Clone()
	_, pages := k.callback(t, b, back)
	if !k.signedIn(t, b) {
		t.Fatalf("the callback did not sign %s in: %s", op.username, pages[len(pages)-1])
	}
	if k.signedIn(t, copyOfSession) {
		t.Fatal("the pre-auth session's cookie is signed in too: renew the session (a new id) when the operator signs in, or whoever held the pre-auth cookie is signed in as well")
	}
	p, err := copyOfSession.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	if p, err = copyOfSession.Follow(p); err != nil {
		t.Fatal(err)
	}
	k.refused(t, copyOfSession, "the callback replayed with the pre-auth session's cookie", p)

	fresh := k.browser()
	if p, err = fresh.Get(back.String()); err != nil {
		t.Fatal(err)
	}
	if p, err = fresh.Follow(p); err != nil {
		t.Fatal(err)
	}
	k.refused(t, fresh, "the callback replayed in a browser without cookies", p)
}

// One browser's callback is delivered to another browser's sign-in,
// another operator's or the same operator's: refused. (A state is bound
// to the pre-auth session that asked for it.)
func callbackOtherSession(t *testing.T, k *kit) {
	alice := k.enrolled(t, "othera")
	mallory := k.enrolled(t, "otherm")
	for _, c := range []struct {
		what     string
		attacker operator
	}{
		{"another operator's sign-in", mallory},
		{"the same operator's sign-in in another browser", alice},
	} {
		victim := k.browser()
		authURL, _ := k.toDuo(t, victim, alice, "")
		back := k.approveAtDuo(t, victim, authURL)
		attacker := k.browser()
		k.toDuo(t, attacker, c.attacker, "")
		p, err := attacker.Get(back.String())
		if err != nil {
			t.Fatal(err)
		}
		if p, err = attacker.Follow(p); err != nil {
			t.Fatal(err)
		}
		k.refused(t, attacker, c.attacker.username+"'s browser with "+alice.username+"'s callback ("+c.what+")", p)
	}
}

// A callback that repeats state or duo_code (RFC 6749 §3.1: a parameter
// sent more than once is an invalid request) is refused, whichever copy
// the helpdesk would have read.
func repeatedParameters(t *testing.T, k *kit) {
	op := k.enrolled(t, "repeat")
	variants := []struct {
		name string
		add  func(q url.Values) url.Values
	}{
		{"state twice, same value", func(q url.Values) url.Values { q.Add("state", q.Get("state")); return q }},
		{"state twice, another value first", func(q url.Values) url.Values {
			q["state"] = append([]string{"x" + q.Get("state")}, q["state"]...)
			return q
		}},
		{"duo_code twice, same value", func(q url.Values) url.Values { q.Add("duo_code", q.Get("duo_code")); return q }},
		{"duo_code twice, another value first", func(q url.Values) url.Values {
			q["duo_code"] = append([]string{"x" + q.Get("duo_code")}, q["duo_code"]...)
			return q
		}},
	}
	for _, v := range variants {
		b := k.browser()
		authURL, _ := k.toDuo(t, b, op, "")
		back := k.approveAtDuo(t, b, authURL)
		q := back.Query()
		if q.Get("state") == "" || q.Get("duo_code") == "" {
			t.Fatalf("Duo's callback has no state or duo_code: %s", redact(back.String()))
		}
		tampered := *back
		tampered.RawQuery = v.add(q).Encode()
		p, err := b.Get(tampered.String())
		if err != nil {
			t.Fatal(err)
		}
		if p, err = b.Follow(p); err != nil {
			t.Fatal(err)
		}
		k.refused(t, b, "a callback with "+v.name, p)
	}
}

// offSite are next targets that leave the site, in the spellings that
// slip past naive checks.
var offSite = []string{"https://evil.example/", "//evil.example", `/\evil.example`, "/%2F%2Fevil.example", "javascript:alert(1)"}

// A next pointing off the site, with a Duo sign-in and with a
// password-only one: every redirect stays on the helpdesk's site.
func offSiteNext(t *testing.T, k *kit) {
	if k.h.SubmitPassword == nil && k.h.PasswordForm.NextField == "" {
		t.Skip("the helpdesk takes no next (PasswordForm.NextField is empty)")
	}
	withDuo := k.enrolled(t, "nextduo")
	without := k.newOperator(t, "nextpw", false, duosim.OutcomeInteractive)
	for _, next := range offSite {
		_, pages := k.signInWithDuo(t, k.browser(), withDuo, next)
		k.stayedOnSite(t, "next "+next+" with Duo", pages)

		b := k.browser()
		p := k.password(t, b, without, next)
		followed, err := b.Follow(p)
		if err != nil {
			t.Fatal(err)
		}
		k.stayedOnSite(t, "next "+next+" without Duo", []*Page{p, followed})
		if !k.signedIn(t, b) {
			t.Errorf("next %s without Duo: not signed in: %s", next, followed)
		}
	}
}

// stayedOnSite fails the test for a page that redirects off the site.
func (k *kit) stayedOnSite(t *testing.T, what string, pages []*Page) {
	t.Helper()
	for _, p := range pages {
		loc := p.Location()
		if p.Redirected() && (loc == nil || loc.Scheme != k.base.Scheme || loc.Host != k.base.Host || loc.User != nil) {
			t.Errorf("%s: %s leaves the site", what, p)
		}
		if p.URL.Host != k.base.Host {
			t.Errorf("%s: the browser landed off the site at %s", what, redact(p.URL.String()))
		}
	}
}

// An operator Duo is off for signs in with the password alone, and is
// never sent to Duo.
func withoutDuo(t *testing.T, k *kit) {
	op := k.newOperator(t, "noduo", false, duosim.OutcomeInteractive)
	b := k.browser()
	p := k.password(t, b, op, "")
	followed, err := b.Follow(p)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := b.DuoLink(followed); ok {
		t.Fatalf("%s (Duo off) was sent to Duo: %s", op.username, redact(u.String()))
	}
	if !k.signedIn(t, b) {
		t.Fatalf("%s (Duo off) is not signed in after the password: %s", op.username, followed)
	}
}

// A backup code from the first sign-in signs the operator in instead of
// Duo, once; the same code again, and a code that is not one, are
// refused.
func backupCode(t *testing.T, k *kit) {
	if k.h.BackupCodes == nil || k.h.SignInWithCode == nil {
		t.Skip("BackupCodes or SignInWithCode is not set: the helpdesk offers no backup codes")
	}
	op := k.newOperator(t, "code", true, duosim.OutcomeInteractive)
	codes, _ := k.signInWithDuo(t, k.browser(), op, "")
	if len(codes) == 0 {
		t.Fatalf("BackupCodes gave no codes at %s's first sign-in with Duo", op.username)
	}
	withCode := func(code string) (*Browser, *Page) {
		b := k.browser()
		p := k.password(t, b, op, "")
		p, err := k.h.SignInWithCode(b, p, code)
		if err != nil {
			t.Fatalf("SignInWithCode: %v", err)
		}
		if p, err = b.Follow(p); err != nil {
			t.Fatal(err)
		}
		return b, p
	}
	b, p := withCode(codes[0])
	if !k.signedIn(t, b) {
		t.Fatalf("a backup code did not sign %s in: %s", op.username, p)
	}
	b, p = withCode(codes[0])
	k.refused(t, b, "a backup code used a second time", p)
	junk := strings.Repeat("7", len(codes[0]))
	if junk == codes[0] {
		junk = strings.Repeat("3", len(codes[0]))
	}
	b, p = withCode(junk)
	k.refused(t, b, "a code that is no backup code", p)
}

// Duo unreachable with the fail mode closed (the default): the password
// alone signs no one in, whether the helpdesk is refused at once or sent
// to a Duo that cannot answer.
func duoUnreachable(t *testing.T, k *kit) {
	op := k.newOperator(t, "duodown", true, duosim.OutcomeInteractive)
	k.h.Duo.SetHealthy(false)
	defer k.h.Duo.SetHealthy(true)
	k.wantRefusedAfterPassword(t, op, "Duo unreachable, fail closed")
}

// wantRefusedAfterPassword signs op in with the right password in a new
// browser and follows wherever the helpdesk sends it (to a Duo that may
// answer with an error page, and back), and fails unless the sign-in ends
// refused.
func (k *kit) wantRefusedAfterPassword(t *testing.T, op operator, what string) {
	t.Helper()
	b := k.browser()
	p := k.password(t, b, op, "")
	followed, err := b.Follow(p)
	if err != nil {
		t.Fatal(err)
	}
	if authURL, ok := b.DuoLink(followed); ok {
		if back, _ := k.atDuo(t, b, authURL, true); back != nil {
			_, pages := k.callback(t, b, back)
			followed = pages[len(pages)-1]
		}
	}
	k.refused(t, b, what, followed)
}

// The plugin process stopped: an operator Duo is on for is refused; the
// helpdesk never falls back to the password alone.
func pluginDown(t *testing.T, k *kit) {
	if k.h.StopPlugin == nil {
		t.Skip("StopPlugin is not set")
	}
	op := k.enrolled(t, "plugindown")
	if err := k.h.StopPlugin(t.Context()); err != nil {
		t.Fatalf("StopPlugin: %v", err)
	}
	k.wantRefusedAfterPassword(t, op, "the plugin down")
}
