package trust

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 35: Duo usernames are canonical (PRECIS UsernameCaseMapped), a
// name PRECIS refuses is refused clearly, and no two operators ever send
// Duo the same username: a derived name or an alias that is another
// operator's after canonicalisation is refused when the alias is saved
// and when a login begins, whoever came first, and also when both begin
// at once.
//
// The simulator allows only the canonical names listed and shows everyone
// else its prompt, which e.browser refuses: a login that reaches the
// callback proves the exact name the plugin sent.
func TestCase35DuoUsernamesNeverShared(t *testing.T) {
	t.Parallel()
	allow := map[string]duosim.Outcome{}
	for _, n := range []string{"carol", "dana", "erin", "kate", "linda", "lında", "li\u0307nda", "kim", "gina", "hana", "iris"} {
		allow[n] = duosim.OutcomeAllow
	}
	e := newEnv(t, envConfig{sim: duosim.Config{Outcomes: allow}})
	next := 10
	operator := func(username string) contract.Operator {
		t.Helper()
		next++
		op := contract.Operator{ID: fmt.Sprint(next), Username: username}
		if _, err := e.p.SetOperatorEnabled(ctxT(t), contract.SetOperatorEnabledRequest{Operator: op, Enabled: true, Actor: admin}); err != nil {
			t.Fatal(err)
		}
		return op
	}
	// sends fails unless op's login goes to Duo as canonical.
	sends := func(op contract.Operator, canonical string) {
		t.Helper()
		b := e.redirect(op)
		q := e.browser(b.RedirectURL) // allowed only for the names listed
		res := e.complete(op, b.State, q.Get("state"), q.Get("duo_code"))
		if res.Decision != contract.DecisionConfirmBackupCodes && res.Decision != contract.DecisionAllowed {
			t.Fatalf("login of %q (as %q) = %+v", op.Username, canonical, res)
		}
	}
	// refusedAtBegin fails unless op's login is denied as a conflict with
	// holder, audited naming both.
	refusedAtBegin := func(op, holder contract.Operator) {
		t.Helper()
		res := e.begin(op)
		wantDenied(t, fmt.Sprintf("BeginLogin of %q", op.Username), res.Decision, res.Reason, res.Message, contract.LoginReasonDuoUsernameTaken)
		if res.State != "" || res.RedirectURL != "" {
			t.Fatalf("a refusal carries a state or a redirect: %+v", res)
		}
		ev := e.wantLastEvent(op, "login.begin", "denied", contract.LoginReasonDuoUsernameTaken)
		if !strings.Contains(ev.Detail, "operator "+holder.ID) {
			t.Fatalf("the audit detail %q does not name the holder, operator %s", ev.Detail, holder.ID)
		}
	}
	// aliasRefused fails unless saving alias for op is refused, naming
	// want.
	aliasRefused := func(op contract.Operator, alias, want string) {
		t.Helper()
		_, err := e.p.SetOperatorAlias(ctxT(t), contract.SetOperatorAliasRequest{Operator: op, DuoAlias: alias, Actor: admin})
		wantReason(t, fmt.Sprintf("alias %q for %q", alias, op.Username), err, contract.ReasonInvalidArgument)
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("refusal of alias %q: %q does not say %q", alias, err, want)
		}
		if st := e.stateOf(op); st.DuoAlias != "" {
			t.Fatalf("a refused alias was saved: %+v", st)
		}
		t.Logf("alias %+q refused: %v", alias, err)
	}

	// The holder signs in first under one spelling; another operator
	// whose name is the same username under another is refused, at the
	// login and as an alias.
	for _, tc := range []struct{ what, holder, canonical, other string }{
		{"case", "Carol", "carol", "CAROL"},
		{"fullwidth", "dana", "dana", "ｄａｎａ"},
		{"fullwidth capitals", "erin", "erin", "ＥＲＩＮ"},
		{"Kelvin sign", "kate", "kate", "\u212Aate"},
		{"Kelvin sign first", "\u212Aim", "kim", "KIM"},
	} {
		t.Logf("%s: %q and %q", tc.what, tc.holder, tc.other)
		holder := operator(tc.holder)
		sends(holder, tc.canonical)
		other := operator(tc.other)
		refusedAtBegin(other, holder)
		third := operator("x" + fmt.Sprint(next))
		aliasRefused(third, tc.other, "operator "+holder.ID)
		aliasRefused(third, tc.holder, "operator "+holder.ID)
	}

	// Dotted and dotless i are different letters to PRECIS: "lında" and
	// "li̇nda" (i with a combining dot, what İ lower-cases to) are not
	// "linda", so each of the three is its own Duo username.
	sends(operator("linda"), "linda")
	sends(operator("lında"), "lında")
	sends(operator("LİNDA"), "li\u0307nda")

	// An alias first, then a derived name: the alias holds the name.
	holder := operator("someone")
	if _, err := e.p.SetOperatorAlias(ctxT(t), contract.SetOperatorAliasRequest{Operator: holder, DuoAlias: "ＧＩＮＡ", Actor: admin}); err != nil {
		t.Fatal(err)
	}
	if st := e.stateOf(holder); st.DuoAlias != "gina" {
		t.Fatalf("alias saved as %q, want the canonical gina", st.DuoAlias)
	}
	refusedAtBegin(operator("Gina"), holder)
	sends(holder, "gina")

	// Names PRECIS refuses, as an alias and as a derived name: no-break
	// and ideographic spaces, a compatibility ligature, a superscript.
	for _, tc := range []struct{ name, why string }{
		{"hana\u00a0", "space"}, {"ha\u3000na", "space"}, {"\ufb01ona", "invalid Duo username"}, {"hana\u00b2", "invalid Duo username"},
	} {
		op := operator("hana" + fmt.Sprint(next))
		aliasRefused(op, tc.name, tc.why)
		bad := operator(tc.name)
		res := e.begin(bad)
		wantDenied(t, fmt.Sprintf("BeginLogin of %q", tc.name), res.Decision, res.Reason, res.Message, contract.LoginReasonBadDuoUsername)
		e.wantLastEvent(bad, "login.begin", "denied", contract.LoginReasonBadDuoUsername)
	}

	// Two operators of one Duo username, neither signed in yet, begin at
	// once, many times: one is sent to Duo, the other refused, every
	// time.
	for i := range 10 {
		a, b := operator(fmt.Sprintf("iris%d", i)), operator(fmt.Sprintf("IRIS%d", i))
		var wg sync.WaitGroup
		res := make([]contract.BeginLoginResponse, 2)
		errs := make([]error, 2)
		for j, op := range []contract.Operator{a, b} {
			wg.Go(func() {
				res[j], errs[j] = e.p.BeginLogin(ctxT(t), contract.BeginLoginRequest{Operator: op, Client: client})
			})
		}
		wg.Wait()
		redirects := 0
		for j, r := range res {
			switch {
			case errs[j] != nil:
				t.Fatalf("round %d: BeginLogin: %v", i, errs[j])
			case r.Decision == contract.DecisionRedirect:
				redirects++
			case r.Decision != contract.DecisionDenied || r.Reason != contract.LoginReasonDuoUsernameTaken:
				t.Fatalf("round %d: %+v, want REDIRECT or DENIED %s", i, r, contract.LoginReasonDuoUsernameTaken)
			}
		}
		if redirects != 1 {
			t.Fatalf("round %d: %d of two operators with one Duo username were sent to Duo, want 1", i, redirects)
		}
	}
}
