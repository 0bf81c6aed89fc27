package hooks

import (
	"context"
	"testing"
	"time"

	"github.com/helpdesk-duo/duo-plugin/duosim"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
	"github.com/helpdesk-duo/duo-plugin/settings"
)

func TestDuoUsername(t *testing.T) {
	t.Parallel()
	op := contract.Operator{ID: "1", Username: "Alice", Email: "Alice.Smith@Example.com"}
	cases := []struct {
		name    string
		format  settings.UsernameFormat
		op      contract.Operator
		alias   string
		want    string
		wantErr bool
	}{
		{"username, case-folded", settings.FormatUsername, op, "", "alice", false},
		{"email", settings.FormatEmail, op, "", "alice.smith@example.com", false},
		{"email local part", settings.FormatEmailLocal, op, "", "alice.smith", false},
		{"alias wins", settings.FormatEmail, op, "ASmith", "asmith", false},
		{"Kelvin sign folds to k", settings.FormatUsername, contract.Operator{ID: "1", Username: "\u212Aelly"}, "", "kelly", false},
		{"fullwidth folds to ASCII", settings.FormatUsername, contract.Operator{ID: "1", Username: "ＢＯＢ"}, "", "bob", false},
		{"surrounding space refused, not trimmed", settings.FormatUsername, contract.Operator{ID: "1", Username: " alice "}, "", "", true},
		{"no-break space refused", settings.FormatUsername, contract.Operator{ID: "1", Username: "alice\u00a0"}, "", "", true},
		{"ideographic space refused", settings.FormatUsername, contract.Operator{ID: "1", Username: "alice\u3000"}, "", "", true},
		{"no email for email format", settings.FormatEmail, contract.Operator{ID: "1", Username: "bob"}, "", "", true},
		{"control character", settings.FormatUsername, contract.Operator{ID: "1", Username: "bo\tb"}, "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DuoUsername(tc.format, tc.op, tc.alias)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("DuoUsername = %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestExpiredStateIsDenied moves the clock past the login's lifetime.
func TestExpiredStateIsDenied(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e := newEnv(t, duosim.StartTest(t, duosim.Config{Scripted: true}), settings.Runtime{}, map[string]string{"login_timeout_seconds": "60"})
	alice := contract.Operator{ID: "1", Username: "alice"}
	e.enable(alice)
	b := e.begin(ctx, alice)
	if b.Decision != contract.DecisionRedirect {
		t.Fatalf("BeginLogin = %+v", b)
	}
	code := e.duoCode(b.RedirectURL)
	e.clk.Add(61 * time.Second)
	c, err := e.p.CompleteLogin(ctx, contract.CompleteLoginRequest{Operator: alice, SessionState: b.State, CallbackState: b.State, DuoCode: code})
	if err != nil || c.Decision != contract.DecisionDenied || c.Reason != contract.LoginReasonStateExpired {
		t.Fatalf("CompleteLogin after expiry = %+v, %v; want DENIED %s", c, err, contract.LoginReasonStateExpired)
	}
}
