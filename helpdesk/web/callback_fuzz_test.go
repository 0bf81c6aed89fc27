package web

import (
	"net/url"
	"strings"
	"testing"
)

// callbackOracle reads a raw query the way RFC 3986 and HTML forms define
// it, independently of url.ParseQuery: pairs split on "&", key and value
// split at the first "=", each percent-decoded with "+" as a space. ok is
// false when a pair does not decode (or holds a ";", which Go refuses).
func callbackOracle(raw string) (values map[string][]string, ok bool) {
	values = map[string][]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return nil, false
		}
		k, v, _ := strings.Cut(pair, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, false
		}
		values[dk] = append(values[dk], dv)
	}
	return values, true
}

// FuzzDuoCallbackQuery: a callback query with any parameter repeated is
// refused; one is accepted (no error, no Duo error) exactly when it parses
// and holds one non-empty state and one non-empty duo_code and no error, and
// then the values are the decoded ones; a Duo error is reported only when
// Duo's error parameter is there once. Never panics.
func FuzzDuoCallbackQuery(f *testing.F) {
	for _, seed := range []string{
		"duo_code=c&state=s",
		"state=s&duo_code=c&extra=1",
		"duo_code=c&state=s&state=s",
		"duo_code=c&duo_code=d&state=s",
		"duo_code=c&state=s&state=%zz",             // the repeat that does not decode
		"duo_code=c&st%61te=s&state=t",             // a repeat spelt differently
		"duo_code=c&state=s&code=x&code=y",         // any parameter, not only Duo's
		"error=access_denied&error_description=No", // Duo's error
		"error=&state=s&duo_code=c",
		"duo_code=c;state=s",
		"state=s",
		"duo_code=&state=s",
		"",
		"&&=&",
		"duo_code=a+b%20c&state=%E2%82%AC",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := parseDuoCallback(raw)
		accepted := err == nil && c.Error == ""
		values, ok := callbackOracle(raw)
		repeated := false
		for _, vs := range values {
			repeated = repeated || len(vs) > 1
		}
		switch {
		case !ok || repeated:
			if err == nil {
				t.Fatalf("parseDuoCallback(%q) = %+v, want a refusal (malformed %v, repeated %v)", raw, c, !ok, repeated)
			}
			return
		case err != nil:
			if len(values["state"]) == 1 && values["state"][0] != "" && len(values["duo_code"]) == 1 && values["duo_code"][0] != "" && values["error"] == nil {
				t.Fatalf("parseDuoCallback(%q) refused a well-formed callback: %v", raw, err)
			}
			return
		}
		if c.Error != "" {
			if len(values["error"]) != 1 || c.DuoCode != "" || c.State != url.Values(values).Get("state") {
				t.Fatalf("parseDuoCallback(%q) = %+v: a Duo error without exactly one error parameter, with a code, or with another state", raw, c)
			}
			return
		}
		if !accepted || values["error"] != nil || len(values["state"]) != 1 || len(values["duo_code"]) != 1 {
			t.Fatalf("parseDuoCallback(%q) = %+v accepted without exactly one state and one duo_code", raw, c)
		}
		if c.State == "" || c.DuoCode == "" || c.State != values["state"][0] || c.DuoCode != values["duo_code"][0] {
			t.Fatalf("parseDuoCallback(%q) = %+v, want state %q and duo_code %q", raw, c, values["state"], values["duo_code"])
		}
	})
}
