package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger builds the agent's logger: text ("standard", the default) or JSON lines, at the
// configured level. Values logged through it must never be secrets or tokens.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "", "info":
		lvl = slog.LevelInfo
	case "trace", "debug":
		lvl = slog.LevelDebug
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "err", "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("agent config: logLevel %q is not one of trace, debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "", "standard", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("agent config: logFormat %q is not one of standard, json", format)
	}
}

// stdlogBridge receives what consul-template writes through the standard library's log
// package ("[LEVEL] (component) message") and re-emits it through slog. consul-template's
// INFO lines are chatty internals, so they become debug records; the agent logs its own
// milestones at info. consul-template logs dependency names (Vault paths), never values.
type stdlogBridge struct{ log *slog.Logger }

func (b stdlogBridge) Write(p []byte) (int, error) {
	// The standard logger writes each message in one call; API errors span several lines.
	level, msg := parseStdlogLine(strings.Join(strings.Fields(string(p)), " "))
	if msg != "" {
		b.log.Log(context.Background(), level, msg, "component", "consul-template")
	}
	return len(p), nil
}

func parseStdlogLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	prefixes := []struct {
		tag   string
		level slog.Level
	}{
		{"[TRACE]", slog.LevelDebug - 4},
		{"[DEBUG]", slog.LevelDebug},
		{"[INFO]", slog.LevelDebug},
		{"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelError},
		{"[ERROR]", slog.LevelError},
	}
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(line, p.tag); ok {
			return p.level, strings.TrimSpace(rest)
		}
	}
	return slog.LevelInfo, line
}

// oneLine flattens an error (Vault API errors span lines) for logs and exit messages.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
