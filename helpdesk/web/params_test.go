package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParamsCheck(t *testing.T) {
	t.Parallel()
	next := params{query: []string{"next"}}
	login := params{form: []string{"username", "password"}}
	confirm := params{form: []string{"saved", "code"}, repeat: []string{"code"}}
	for _, tc := range []struct {
		name         string
		p            params
		method, url  string
		body         string
		problem, par string // "" problem: accepted
	}{
		{"no query", next, "GET", "/login", "", "", ""},
		{"its parameter", next, "GET", "/login?next=/a", "", "", ""},
		{"repeated", next, "GET", "/login?next=/a&next=//evil", "", "a parameter is repeated", "next"},
		{"repeated, same value", next, "GET", "/login?next=/a&next=/a", "", "a parameter is repeated", "next"},
		{"a pair that does not decode", next, "GET", "/login?next=/a&next=%zz", "", "the query does not parse", ""},
		{"a semicolon", next, "GET", "/login?next=/a;next=/b", "", "the query does not parse", ""},
		{"an unknown name, not logged", next, "GET", "/login?password=x", "", "a parameter this page does not take", ""},
		{"an empty name", next, "GET", "/login?=x", "", "a parameter this page does not take", ""},
		{"a body on a GET", next, "GET", "/login", "next=/a", "a body where none belongs", ""},
		{"a form", login, "POST", "/login", "csrf_token=t&username=a&password=p", "", ""},
		{"credentials in the query", login, "POST", "/login?password=p", "csrf_token=t&username=a", "a form's parameters belong in its body, not in the query", "password"},
		{"anything in the query", login, "POST", "/login?x=1", "csrf_token=t&username=a&password=p", "a form's parameters belong in its body, not in the query", ""},
		{"a repeated field", login, "POST", "/login", "csrf_token=t&username=a&username=b&password=p", "a parameter is repeated", "username"},
		{"a repeated CSRF token", login, "POST", "/login", "csrf_token=t&csrf_token=t&username=a&password=p", "a parameter is repeated", "csrf_token"},
		{"an unknown field", login, "POST", "/login", "csrf_token=t&username=a&password=p&admin=1", "a parameter this page does not take", ""},
		{"a field that may repeat", confirm, "POST", "/login/backup-codes", "csrf_token=t&saved=yes&code=a&code=b", "", ""},
		{"one that may not", confirm, "POST", "/login/backup-codes", "csrf_token=t&saved=yes&saved=yes&code=a", "a parameter is repeated", "saved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if tc.body == "" {
				r.Body, r.ContentLength = http.NoBody, 0
			} else {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			got := tc.p.check(r)
			switch {
			case tc.problem == "" && got != nil:
				t.Fatalf("refused: %s", got)
			case tc.problem != "" && got == nil:
				t.Fatalf("accepted, want %q", tc.problem)
			case got != nil && (got.Problem != tc.problem || got.Parameter != tc.par):
				t.Fatalf("problem %q (%q), want %q (%q)", got.Problem, got.Parameter, tc.problem, tc.par)
			}
		})
	}
}
