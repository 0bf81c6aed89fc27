package trust

import (
	"errors"
	"fmt"
	"testing"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

// Case 8: the host's spellings of one operator's username (case, width)
// map to one canonical Duo username, the same at BeginLogin and at the
// callback; spaces anywhere, separators, control and format characters
// are refused (invalid_duo_username, audited), never trimmed into the
// canonical name.
//
// The simulator scripts an allow for "dave" only and shows everyone else
// the interactive prompt, so a redirect straight back proves the name the
// plugin sent was exactly "dave"; the callback then verifies Duo's token
// for the name kept with the pending login.
func TestCase08UsernamesCanonicalOrRefused(t *testing.T) {
	t.Parallel()
	const id = "4"
	e := newEnv(t, envConfig{sim: duosim.Config{Outcomes: map[string]duosim.Outcome{"dave": duosim.OutcomeAllow}}})
	op := func(username string) contract.Operator {
		return contract.Operator{ID: id, Username: username, Email: "dave@example.com"}
	}
	if _, err := e.p.SetOperatorEnabled(ctxT(t), contract.SetOperatorEnabledRequest{Operator: op("dave"), Enabled: true, Actor: admin}); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"dave", "Dave", "DAVE", "dAvE", "ｄａｖｅ", "ＤＡＶＥ"} {
		t.Run("canonical "+name, func(t *testing.T) {
			b := e.redirect(op(name))
			q := e.browser(b.RedirectURL) // fails unless Duo was asked for "dave"
			res := e.complete(op(name), b.State, q.Get("state"), q.Get("duo_code"))
			if res.Decision == contract.DecisionConfirmBackupCodes {
				res = e.confirm(op(name), res.BackupCodesTicket)
			}
			if res.Decision != contract.DecisionAllowed {
				t.Fatalf("login as %q = %+v, want ALLOWED", name, res)
			}
		})
	}

	refused := []struct {
		name string
		// invalidOperator: the contract refuses the operator itself
		// (control characters) before the plugin derives a Duo name.
		invalidOperator bool
	}{
		{" dave", false}, {"dave ", false}, {"da ve", false}, {"dave\u00a0", false}, {"dave\u3000", false},
		{"dave\u2028", false}, {"da\u200bve", false}, {"dave\u202e", false}, {"da\u00adve", false},
		{"dave\t", true}, {"dave\n", true}, {"dave\x07", true},
	}
	for _, tc := range refused {
		t.Run(fmt.Sprintf("refused %q", tc.name), func(t *testing.T) {
			res, err := e.p.BeginLogin(ctxT(t), contract.BeginLoginRequest{Operator: op(tc.name), Client: client})
			var ce *contract.Error
			switch {
			case tc.invalidOperator:
				if !errors.As(err, &ce) || ce.Reason != contract.ReasonInvalidArgument || res.Decision != contract.DecisionUnspecified {
					t.Fatalf("BeginLogin(%q) = %+v, %v; want the error %s", tc.name, res, err, contract.ReasonInvalidArgument)
				}
			case err != nil:
				t.Fatalf("BeginLogin(%q): %v", tc.name, err)
			default:
				wantDenied(t, "BeginLogin", res.Decision, res.Reason, res.Message, contract.LoginReasonBadDuoUsername)
				if res.State != "" || res.RedirectURL != "" {
					t.Fatalf("a refusal carries a state or a redirect: %+v", res)
				}
				e.wantLastEvent(op(tc.name), "login.begin", "denied", contract.LoginReasonBadDuoUsername)
			}
		})
	}
}
