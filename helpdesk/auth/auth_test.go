package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/bcrypt"
)

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		safe bool
	}{
		{"/", true},
		{"/account", true},
		{"/admin/plugins?x=1#y", true},
		{"", false},
		{"account", false},
		{"//evil.example", false},
		{"///evil.example", false},
		{"/\\evil.example", false},
		{"\\/evil.example", false},
		{"https://evil.example", false},
		{"javascript:alert(1)", false},
		{"/%2f/evil.example", false},
		{"/%5Cevil.example", false},
		{"/a\nb", false},
		{"/a\tb", false},
		// Lookalike slashes, raw or encoded (NFKC folds some to "/").
		{"/\uff0fevil.example", false},
		{"/\u2215\u2215evil.example", false},
		{"/%EF%BC%8F%EF%BC%8Fevil.example", false},
		{"/%25EF%25BC%258Fevil.example", false},
		{"/tickets?q=%C3%BC", false},
		{"/" + strings.Repeat("a", 3000), false},
	} {
		if got := SafeNext(tc.in); (got == tc.in && got != "") != tc.safe {
			t.Errorf("SafeNext(%q) = %q, want safe=%v", tc.in, got, tc.safe)
		}
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("long enough", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(h, "long enough") || CheckPassword(h, "long enougH") || CheckPassword("", "long enough") {
		t.Fatal("CheckPassword")
	}
	if _, err := HashPassword("short", bcrypt.MinCost); err == nil {
		t.Fatal("a short password was accepted")
	}
	if _, err := HashPassword(strings.Repeat("x", 73), bcrypt.MinCost); err == nil {
		t.Fatal("a password bcrypt would truncate was accepted")
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	a, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken()
	if len(a) != 43 || a == b {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !TokensEqual(a, a) || TokensEqual(a, b) || TokensEqual("", "") {
		t.Fatal("TokensEqual")
	}
	if string(HashToken(a)) == a || len(HashToken(a)) != 32 {
		t.Fatal("HashToken")
	}
}

func TestVerifyTOTP(t *testing.T) {
	t.Parallel()
	k, err := NewTOTPKey("Helpdesk", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.URI, "otpauth://totp/") || !strings.HasPrefix(k.QRCodePNG, "data:image/png;base64,") {
		t.Fatalf("key %+v", k.URI)
	}
	now := time.Unix(1_800_000_015, 0)
	code, _ := totp.GenerateCode(k.Secret, now)
	step, ok := VerifyTOTP(k.Secret, code, now, 0)
	if !ok || step != now.Unix()/30 {
		t.Fatalf("current code: %v %d", ok, step)
	}
	if _, ok := VerifyTOTP(k.Secret, code, now, step); ok {
		t.Fatal("a used step was accepted again")
	}
	if _, ok := VerifyTOTP(k.Secret, code, now.Add(30*time.Second), 0); !ok {
		t.Fatal("one step of drift refused")
	}
	if _, ok := VerifyTOTP(k.Secret, code, now.Add(2*time.Minute), 0); ok {
		t.Fatal("an old code was accepted")
	}
	if _, ok := VerifyTOTP(k.Secret, "12345", now, 0); ok {
		t.Fatal("a short code was accepted")
	}
	d, err := DescribeTOTP("Helpdesk", "alice", k.Secret)
	if err != nil || d.Secret != k.Secret {
		t.Fatalf("DescribeTOTP: %v %+v", err, d.Secret == k.Secret)
	}
}
