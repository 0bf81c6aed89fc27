package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// params are where a sign-in route's parameters may be: the names its
// query may carry (a GET), the names its form body may carry (a POST;
// the CSRF token besides), and which of them may come more than once.
type params struct {
	query  []string
	form   []string
	repeat []string
}

// paramProblem says why a sign-in request is refused, naming at most a
// parameter, never a value (values are passwords, codes and states).
type paramProblem struct {
	Parameter string
	Problem   string
}

// check reports what is wrong with r's parameters, or nil. It refuses a
// query or body that does not parse (url.Values would drop the pair that
// fails to decode, so "state=a&state=%zz" would pass as one state), a
// parameter given more than once unless p allows it (with repeats, which
// one counts would depend on who reads it: RFC 6749 §3.1), and any
// parameter in a place it does not belong: a query on a POST (credentials
// or codes in a URL end up in logs and histories), a body on a GET, a name
// the route does not take.
func (p params) check(r *http.Request) *paramProblem {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &paramProblem{Problem: "the query does not parse"}
	}
	if r.Method == http.MethodPost {
		if r.URL.RawQuery != "" {
			return &paramProblem{Parameter: p.known(firstKey(q)), Problem: "a form's parameters belong in its body, not in the query"}
		}
		// The CSRF middleware parsed the body already, and refused it if
		// it did not parse (ParseForm's error leaves it no token); a
		// second ParseForm only reports an error when it is the first.
		if err := r.ParseForm(); err != nil {
			return &paramProblem{Problem: "the body does not parse"}
		}
		return p.names(r.PostForm, append([]string{CSRFField}, p.form...))
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return &paramProblem{Problem: "a body where none belongs"}
	}
	return p.names(q, p.query)
}

func (p params) names(vs url.Values, allowed []string) *paramProblem {
	// Sorted, so that the problem named is the same every time.
	keys := make([]string, 0, len(vs))
	for k := range vs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			// Not named: an unknown name is the sender's text.
			return &paramProblem{Problem: "a parameter this page does not take"}
		}
		if len(vs[k]) > 1 && !slices.Contains(p.repeat, k) {
			return &paramProblem{Parameter: k, Problem: "a parameter is repeated"}
		}
	}
	return nil
}

// known is name if the route takes it anywhere, else "": only names of
// our own reach the log.
func (p params) known(name string) string {
	if name == CSRFField || slices.Contains(p.query, name) || slices.Contains(p.form, name) {
		return name
	}
	return ""
}

func firstKey(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}

func (e *paramProblem) String() string {
	if e.Parameter != "" {
		return fmt.Sprintf("%s (%s)", e.Problem, e.Parameter)
	}
	return e.Problem
}

// checkParams refuses a sign-in request whose parameters p does not
// allow, with 400 and before the handler runs: nothing is read, counted
// or consumed, so a malformed request (which a cross-site link can make a
// browser send, with its cookie) cannot end a sign-in under way, and
// never reaches the plugin.
func (s *Server) checkParams(p params, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pr := p.check(r); pr != nil {
			// The parameter's name only, never a value.
			s.log.Warn("sign-in request refused: malformed parameters", "path", r.URL.Path, "problem", pr.Problem,
				"parameter", pr.Parameter, "client_ip", clientIP(r))
			s.renderError(w, r, http.StatusBadRequest, "error.bad_request", "error.bad_request_text")
			return
		}
		next(w, r)
	})
}
