package web

import (
	"fmt"
	"net/url"
)

// duoCallback is what Duo's redirect back to the helpdesk carries: a state
// and a duo_code, or an error.
type duoCallback struct {
	State   string
	DuoCode string
	// Error is Duo's short error code when Duo sends the operator back
	// without a code (denied, cancelled…); DuoCode is then empty, and State
	// is the state the error came with, if any (RFC 6749 §4.1.2.1 says an
	// error carries the request's state).
	Error string
}

// callbackError says why a callback query is refused, naming at most a
// parameter, never a value (values are secrets or attacker's text).
type callbackError struct {
	Parameter string // the repeated parameter, or ""
	Problem   string
}

func (e *callbackError) Error() string {
	if e.Parameter != "" {
		return fmt.Sprintf("duo callback: %s (%s)", e.Problem, e.Parameter)
	}
	return "duo callback: " + e.Problem
}

// parseDuoCallback reads the raw query of Duo's callback. It refuses:
//   - a query that does not parse: url.Values would silently drop the pair
//     that fails to decode, so "state=a&state=%zz" would pass as one state;
//   - any parameter given more than once, whatever its name: with repeats,
//     which one counts would depend on who reads it (RFC 6749 §3.1);
//   - a query without exactly one non-empty state and one non-empty
//     duo_code, unless it carries Duo's error instead.
//
// A query with an "error" parameter is returned with Error set (never empty),
// its state if any and no code: the caller ends the sign-in only if that
// state is the sign-in's own.
func parseDuoCallback(rawQuery string) (duoCallback, error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return duoCallback{}, &callbackError{Problem: "the query does not parse"}
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return duoCallback{}, &callbackError{Parameter: callbackParameter(k), Problem: "a parameter is repeated"}
		}
	}
	if vs, ok := q["error"]; ok {
		e := vs[0]
		if e == "" {
			e = "unspecified"
		}
		return duoCallback{Error: e, State: q.Get("state")}, nil
	}
	c := duoCallback{State: q.Get("state"), DuoCode: q.Get("duo_code")}
	if c.State == "" || c.DuoCode == "" {
		return duoCallback{}, &callbackError{Problem: "state or duo_code is missing"}
	}
	return c, nil
}

// callbackParameter is name if it is one of Duo's callback parameters,
// else "": only names of the protocol reach the log, never a sender's text.
func callbackParameter(name string) string {
	switch name {
	case "state", "duo_code", "code", "error", "error_description":
		return name
	}
	return ""
}
