package agent

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// BenchmarkRender is one init-mode run in process against the dev server: JWT login and
// the render of one KV v2 secret with the default template into a new file.
func BenchmarkRender(b *testing.B) {
	v := sharedVault(b)
	path := secretName(b)
	v.putKV(b, path, map[string]any{"username": "alice", "password": "bench"})
	dest := filepath.Join(b.TempDir(), "db")
	cfg := v.config(b, "init", "app", agentconfig.Template{Name: "db", SecretPath: "secret/data/" + path, Destination: dest})
	cfg.LogLevel = "warn"
	b.ReportAllocs()
	for b.Loop() {
		_ = os.Remove(dest)
		if err := runAgent(context.Background(), cfg, io.Discard, io.Discard, io.Discard, DefaultTuning()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_, err := os.Stat(dest)
	require.NoError(b, err)
}

// BenchmarkFirstRenderBinary is the time from exec of cmd/vaultkube-agent in init mode to
// its exit with the file rendered (what an init container costs), with its max RSS. That
// RSS is an upper bound: Linux folds the RSS of the forking process (this test binary) at
// exec time into the child's ru_maxrss. VmHWM of a running sidecar (TestBinarySidecar-
// WithProbe, go run ./injector/agent/bench) is the exact figure.
func BenchmarkFirstRenderBinary(b *testing.B) {
	v := sharedVault(b)
	path := secretName(b)
	v.putKV(b, path, map[string]any{"username": "alice", "password": "bench"})
	dest := filepath.Join(b.TempDir(), "db")
	cfg := v.config(b, "init", "app", agentconfig.Template{Name: "db", SecretPath: "secret/data/" + path, Destination: dest})
	cfg.LogLevel = "warn"
	agentBinary(b)
	var maxRSS int64
	for b.Loop() {
		_ = os.Remove(dest)
		cmd := agentCmd(b, cfg, "agent")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		maxRSS = max(maxRSS, maxRSSKB(cmd.ProcessState))
	}
	b.ReportMetric(float64(maxRSS)/1024, "MB-maxRSS")
}
