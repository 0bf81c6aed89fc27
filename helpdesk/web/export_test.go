package web

// Route is a route of the table as the tests see it.
type Route struct {
	Pattern string
	// Access is "open", "sign-in", "signed-in", "staff" or "admin".
	Access string
	// Query and Form: the parameters a sign-in route takes, and where;
	// Repeat: those that may come more than once.
	Query, Form, Repeat []string
}

// Routes is every route the server registers, from its one table.
func Routes() []Route {
	names := map[access]string{accessOpen: "open", accessSignIn: "sign-in", accessSignedIn: "signed-in",
		accessStaff: "staff", accessAdmin: "admin"}
	var out []Route
	for _, rt := range (&Server{}).routeTable() {
		out = append(out, Route{Pattern: rt.pattern, Access: names[rt.access],
			Query: rt.params.query, Form: rt.params.form, Repeat: rt.params.repeat})
	}
	return out
}
