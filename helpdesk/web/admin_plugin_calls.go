package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/helpdesk-duo/duo-plugin/helpdesk/plugins"
	"github.com/helpdesk-duo/duo-plugin/helpdesk/store"
	"github.com/helpdesk-duo/duo-plugin/host"
	"github.com/helpdesk-duo/duo-plugin/proto/contract"
)

const pluginsPath = "/admin/plugins"

// msg is a message id with its arguments (name, value pairs), put into
// words in the reader's language when shown.
type msg struct {
	id string
	kv []any
}

func m(id string, kv ...any) msg { return msg{id: id, kv: kv} }

// withActivePlugin is the one way an admin page calls the plugin: it makes
// sure the helpdesk considers the plugin active and its process is there,
// runs call under the plugin call budget, and on failure flashes why and
// redirects to fallback. It reports whether call succeeded. what says what
// failed ("Could not …").
func (s *Server) withActivePlugin(w http.ResponseWriter, r *http.Request, what msg, fallback string, call func(ctx context.Context, p plugins.Plugin) error) bool {
	p, active, err := s.plugins.ActivePlugin(r.Context())
	if err != nil && !active {
		s.internalError(w, r, "plugin record", err)
		return false
	}
	if !active {
		s.flash(r, flashError, s.tr(r, "flash.not_active"))
		redirect(w, r, fallback)
		return false
	}
	if err != nil {
		s.flashPluginError(r, m("fail.reach"), err)
		redirect(w, r, fallback)
		return false
	}
	ctx, cancel := s.pluginCtx(r)
	defer cancel()
	if err := call(ctx, p); err != nil {
		s.flashPluginError(r, what, err)
		redirect(w, r, fallback)
		return false
	}
	return true
}

// callPlugin runs call on the running plugin under the plugin call budget,
// and says why it could not. It neither checks the helpdesk's record nor
// answers the request: the sign-in pages refuse on its error (loginCall),
// and pages that show what they could read show the rest without it. The
// plugin comes from Ready: this instance's process brought to the record
// another instance may have changed.
func (s *Server) callPlugin(r *http.Request, call func(ctx context.Context, p plugins.Plugin) error) error {
	p, err := s.plugins.Ready(r.Context())
	if err != nil {
		return err
	}
	return s.callOn(r, p, call)
}

// callOn runs call on p under the plugin call budget.
func (s *Server) callOn(r *http.Request, p plugins.Plugin, call func(ctx context.Context, p plugins.Plugin) error) error {
	ctx, cancel := s.pluginCtx(r)
	defer cancel()
	return call(ctx, p)
}

// operatorStates asks the plugin for the operators' states in one call,
// in the operators' order. The operators go as the helpdesk knows them
// (role, service account), so that each state tells whether Duo is
// enforced or exempt for them.
func (s *Server) operatorStates(ctx context.Context, r *http.Request, p plugins.Plugin, ops ...store.Operator) ([]contract.OperatorState, error) {
	who := make([]contract.Operator, len(ops))
	for i, op := range ops {
		who[i] = pluginOperator(op)
	}
	res, err := p.GetOperatorStates(ctx, contract.GetOperatorStatesRequest{Operators: who, Actor: s.actor(r)})
	if err != nil {
		return nil, err
	}
	if len(res.States) == len(ops) {
		return res.States, nil
	}
	return nil, fmt.Errorf("the plugin answered for %d operators, asked for %d", len(res.States), len(ops))
}

// messageError is a plugin error with the words to show for it (a message
// id): the page shows text, the log keeps the plugin's reason and message.
type messageError struct {
	text string
	err  error
}

func (e *messageError) Error() string { return e.text + ": " + e.err.Error() }
func (e *messageError) Unwrap() error { return e.err }

// operatorMessage wraps err with what to tell the operator instead of the
// plugin's own message (written for administrators): textID, a message id.
func operatorMessage(textID string, err error) error { return &messageError{text: textID, err: err} }

// flashPluginError turns a plugin error into a message for the admin.
func (s *Server) flashPluginError(r *http.Request, what msg, err error) {
	s.log.Warn("plugin call failed", "what", what.id, "reason", string(contract.ReasonOf(err)), "error", err)
	why := err.Error()
	var ce *contract.Error
	var me *messageError
	switch {
	case errors.As(err, &me):
		why = s.tr(r, me.text)
	case errors.Is(err, host.ErrUnavailable):
		why = s.tr(r, "fail.unavailable", "Error", err.Error())
	case errors.As(err, &ce):
		why = s.pluginText(r, ce.Text, ce.Message)
	}
	s.flash(r, flashError, s.tr(r, "fail.could_not", "What", s.tr(r, what.id, what.kv...), "Why", why))
}
