package agent

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	lg, err := newLogger(&buf, "warn", "json")
	require.NoError(t, err)
	lg.Info("hidden")
	lg.Warn("shown", "path", "/vault/secrets/db")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 1)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	assert.Equal(t, "shown", rec["msg"])
	assert.Equal(t, "/vault/secrets/db", rec["path"])

	buf.Reset()
	lg, err = newLogger(&buf, "", "standard")
	require.NoError(t, err)
	lg.Debug("hidden")
	lg.Info("shown")
	assert.Contains(t, buf.String(), "level=INFO msg=shown")
	assert.NotContains(t, buf.String(), "hidden")

	_, err = newLogger(&buf, "loud", "")
	assert.ErrorContains(t, err, `logLevel "loud"`)
	_, err = newLogger(&buf, "", "xml")
	assert.ErrorContains(t, err, `logFormat "xml"`)
}

func TestStdlogBridge(t *testing.T) {
	tests := []struct {
		line  string
		level slog.Level
		msg   string
	}{
		{"[INFO] (runner) creating watcher", slog.LevelDebug, "(runner) creating watcher"},
		{"[DEBUG] (runner) checking template", slog.LevelDebug, "(runner) checking template"},
		{"[TRACE] (view) x", slog.LevelDebug - 4, "(view) x"},
		{"[WARN] (runner) watching 200 dependencies", slog.LevelWarn, "(runner) watching 200 dependencies"},
		{"[ERR] (view) vault.read(secret/data/x): no secret exists", slog.LevelError, "(view) vault.read(secret/data/x): no secret exists"},
		{"plain", slog.LevelInfo, "plain"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			level, msg := parseStdlogLine(tc.line)
			assert.Equal(t, tc.level, level)
			assert.Equal(t, tc.msg, msg)
		})
	}

	var buf bytes.Buffer
	b := stdlogBridge{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	_, err := b.Write([]byte("[INFO] (runner) starting\n"))
	require.NoError(t, err)
	assert.Empty(t, buf.String(), "consul-template's info lines are debug records")
	_, err = b.Write([]byte("[ERR] (view) vault.read(x): Error making API request.\n\nCode: 403. Errors:\n\n* permission denied\n"))
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(buf.String(), "\n"), "one record for a multi-line message")
	assert.Contains(t, buf.String(), `level=ERROR msg="(view) vault.read(x): Error making API request. Code: 403. Errors: * permission denied" component=consul-template`)
}
