package duosim

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
)

// SetUnresponsive switches on or off a Duo that accepts connections and
// never answers: while on, POST requests to /oauth/v1/health_check and
// /oauth/v1/token complete TLS, have their request read in full and are
// then held without a single byte of response. A held request ends when
//
//   - the client gives up (its request context ends): the connection is
//     dropped, still without a response;
//   - the server closes: likewise dropped, so Close does not wait for it;
//   - the mode is switched off: the request is then answered as if it had
//     just arrived (so a code it carries may have expired meanwhile).
//
// A held request that is dropped has no effect: it consumes no code and
// no assertion jti. The browser endpoints (authorize and the prompt) are
// not affected, nor are requests with another method, which get their
// usual 405. Unresponsiveness takes precedence over SetHealthy(false).
// Stats.Held counts the held requests.
func (s *Server) SetUnresponsive(on bool) {
	s.unresponsiveMu.Lock()
	defer s.unresponsiveMu.Unlock()
	switch {
	case on && s.release == nil:
		s.release = make(chan struct{})
	case !on && s.release != nil:
		close(s.release)
		s.release = nil
	}
}

// holdIfUnresponsive returns at once unless SetUnresponsive(true) is in
// force. Otherwise it reads the request body, holds the request and
// returns only when the mode is switched off; when the client gives up or
// the server closes it aborts the handler with http.ErrAbortHandler, which
// makes net/http drop the connection without writing a response.
func (s *Server) holdIfUnresponsive(r *http.Request, endpoint string) {
	s.unresponsiveMu.Lock()
	release := s.release
	s.unresponsiveMu.Unlock()
	if release == nil {
		return
	}
	// Reading the body to its end is what makes net/http watch the
	// connection, so that the request context ends when the client leaves.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// Not held: without the whole body read, a client that left could
		// not be noticed. The handler then meets the same read error.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	s.stats.held.Add(1)
	s.log.Info("request held unanswered", slog.String("endpoint", endpoint))
	select {
	case <-release:
		s.log.Info("held request released", slog.String("endpoint", endpoint))
	case <-r.Context().Done():
		s.log.Info("held request abandoned by client", slog.String("endpoint", endpoint))
		panic(http.ErrAbortHandler)
	case <-s.closing:
		s.log.Info("held request dropped by shutdown", slog.String("endpoint", endpoint))
		panic(http.ErrAbortHandler)
	}
}

// errReader replays a body read error after the bytes read before it.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
