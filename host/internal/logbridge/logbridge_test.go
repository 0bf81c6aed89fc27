package logbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func decode(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

func TestLevelsAndAttributes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: LevelTrace})), "go-plugin")
	l.Trace("t")
	l.Debug("d")
	l.Named("stdio").Info("i", "k", 1)
	l.With("pid", 7).Warn("w", "error", errors.New("boom"))
	l.ResetNamed("x").Error("e", "dangling")
	l.Log(hclog.Off, "never")

	want := []map[string]any{
		{"level": "DEBUG-4", "msg": "t", "logger": "go-plugin"},
		{"level": "DEBUG", "msg": "d", "logger": "go-plugin"},
		{"level": "INFO", "msg": "i", "logger": "go-plugin.stdio", "k": float64(1)},
		{"level": "WARN", "msg": "w", "logger": "go-plugin", "pid": float64(7), "error": "boom"},
		{"level": "ERROR", "msg": "e", "logger": "x", "EXTRA_VALUE_AT_END": "dangling"},
	}
	if got := decode(t, &buf); !reflect.DeepEqual(got, want) {
		t.Fatalf("logged\n %v\nwant\n %v", got, want)
	}
}

func TestLevelFollowsHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level slog.Level
		want  hclog.Level
		debug bool
	}{
		{LevelTrace, hclog.Trace, true},
		{slog.LevelDebug, hclog.Debug, true},
		{slog.LevelInfo, hclog.Info, false},
		{slog.LevelWarn, hclog.Warn, false},
		{slog.LevelError, hclog.Error, false},
		{slog.LevelError + 4, hclog.Off, false},
	}
	for _, tc := range tests {
		t.Run(tc.level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})), "")
			if got := l.GetLevel(); got != tc.want {
				t.Fatalf("GetLevel = %v, want %v", got, tc.want)
			}
			if l.IsDebug() != tc.debug {
				t.Fatalf("IsDebug = %v, want %v", l.IsDebug(), tc.debug)
			}
			l.Debug("hidden unless debug")
			if (buf.Len() > 0) != tc.debug {
				t.Fatalf("debug line written = %v, want %v", buf.Len() > 0, tc.debug)
			}
		})
	}
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var got []string
	w := &LineWriter{Log: func(l string) { got = append(got, l) }}
	for _, chunk := range []string{"one\ntw", "o\r\n", "\n", "three"} {
		if n, err := w.Write([]byte(chunk)); err != nil || n != len(chunk) {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if want := []string{"one", "two"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("lines %q, want %q (a partial line waits for its newline)", got, want)
	}
	_, _ = w.Write(bytes.Repeat([]byte("x"), 70<<10))
	if len(got) != 3 || !strings.HasPrefix(got[2], "threexxx") {
		t.Fatalf("a line longer than the buffer was not flushed: %d lines", len(got))
	}
}

func TestStandardLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)), "std")
	l.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}).Print("via log")
	want := []map[string]any{{"level": "WARN", "msg": "via log", "logger": "std"}}
	if got := decode(t, &buf); !reflect.DeepEqual(got, want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
}
