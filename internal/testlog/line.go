package testlog

import (
	"bytes"
	"log/slog"
	"strings"
)

// Line is what slog writes for Info("m", args...) with the JSON or the text
// handler, without time, level or the trailing newline: the part a test
// compares.
func Line(json bool, args ...any) string {
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
			return slog.Attr{}
		}
		return a
	}}
	var h slog.Handler = slog.NewTextHandler(&buf, opts)
	if json {
		h = slog.NewJSONHandler(&buf, opts)
	}
	slog.New(h).Info("m", args...)
	return strings.TrimSuffix(buf.String(), "\n")
}
