// Package logbridge carries go-plugin's logging into log/slog: go-plugin
// logs through an hclog.Logger (its own messages and the plugin's hclog JSON
// lines, which it parses from the plugin's stderr), while the host SDK logs
// through slog.
package logbridge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is the slog level hclog's Trace maps to.
const LevelTrace = slog.LevelDebug - 4

// New returns an hclog.Logger that writes to l. name is the hclog name,
// reported in the "logger" attribute.
func New(l *slog.Logger, name string) hclog.Logger {
	return &logger{l: l, name: name}
}

type logger struct {
	l    *slog.Logger
	name string
	args []interface{}
}

var _ hclog.Logger = (*logger)(nil)

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (g *logger) Log(level hclog.Level, msg string, args ...interface{}) {
	if level == hclog.Off {
		return
	}
	sl := toSlog(level)
	ctx := context.Background()
	if !g.l.Enabled(ctx, sl) {
		return
	}
	attrs := make([]any, 0, len(g.args)+len(args)+2)
	if g.name != "" {
		attrs = append(attrs, slog.String("logger", g.name))
	}
	attrs = append(attrs, pairs(g.args)...)
	attrs = append(attrs, pairs(args)...)
	g.l.Log(ctx, sl, msg, attrs...)
}

// pairs turns hclog's key/value list into slog attributes. hclog tolerates a
// dangling key and non-string keys; so does this.
func pairs(args []interface{}) []any {
	out := make([]any, 0, len(args)/2+1)
	for i := 0; i < len(args); i += 2 {
		key := fmt.Sprint(args[i])
		if i+1 >= len(args) {
			out = append(out, slog.Any("EXTRA_VALUE_AT_END", args[i]))
			break
		}
		v := args[i+1]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		out = append(out, slog.Any(key, v))
	}
	return out
}

func (g *logger) Trace(msg string, args ...interface{}) { g.Log(hclog.Trace, msg, args...) }
func (g *logger) Debug(msg string, args ...interface{}) { g.Log(hclog.Debug, msg, args...) }
func (g *logger) Info(msg string, args ...interface{})  { g.Log(hclog.Info, msg, args...) }
func (g *logger) Warn(msg string, args ...interface{})  { g.Log(hclog.Warn, msg, args...) }
func (g *logger) Error(msg string, args ...interface{}) { g.Log(hclog.Error, msg, args...) }

func (g *logger) enabled(level hclog.Level) bool {
	return g.l.Enabled(context.Background(), toSlog(level))
}

func (g *logger) IsTrace() bool { return g.enabled(hclog.Trace) }
func (g *logger) IsDebug() bool { return g.enabled(hclog.Debug) }
func (g *logger) IsInfo() bool  { return g.enabled(hclog.Info) }
func (g *logger) IsWarn() bool  { return g.enabled(hclog.Warn) }
func (g *logger) IsError() bool { return g.enabled(hclog.Error) }

func (g *logger) ImpliedArgs() []interface{} { return append([]interface{}(nil), g.args...) }

func (g *logger) With(args ...interface{}) hclog.Logger {
	c := *g
	c.args = append(append([]interface{}(nil), g.args...), args...)
	return &c
}

func (g *logger) Name() string { return g.name }

func (g *logger) Named(name string) hclog.Logger {
	c := *g
	if c.name == "" {
		c.name = name
	} else {
		c.name = c.name + "." + name
	}
	return &c
}

func (g *logger) ResetNamed(name string) hclog.Logger {
	c := *g
	c.name = name
	return &c
}

// SetLevel is a no-op: the slog handler owns the level.
func (g *logger) SetLevel(hclog.Level) {}

// GetLevel reports the lowest level the slog handler accepts. go-plugin uses
// it to skip parsing plugin log lines nobody will see.
func (g *logger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if g.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (g *logger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(g.StandardWriter(opts), "", 0)
}

func (g *logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return &LineWriter{Log: func(line string) { g.Log(level, line) }}
}

// LineWriter calls Log once per complete line written to it; a trailing
// partial line is kept until its newline arrives. Safe for concurrent use.
type LineWriter struct {
	Log func(line string)

	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	var lines []string
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	// A plugin that never writes a newline must not grow the buffer forever.
	if len(w.buf) > 64<<10 {
		lines = append(lines, string(w.buf))
		w.buf = nil
	}
	w.mu.Unlock()
	for _, l := range lines {
		if l != "" {
			w.Log(l)
		}
	}
	return len(p), nil
}
