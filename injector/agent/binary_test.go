package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// The agent as a process: cmd/vaultkube-agent built once per test run.

var (
	agentBinOnce sync.Once
	agentBin     string
	agentBinErr  error
)

func agentBinary(t testing.TB) string {
	t.Helper()
	agentBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vaultkube-agent-bin-")
		if err != nil {
			agentBinErr = err
			return
		}
		agentBin = filepath.Join(dir, "vaultkube-agent")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(gobin, "build", "-o", agentBin, "github.com/vaultkube/vaultkube/cmd/vaultkube-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			agentBinErr = fmt.Errorf("go build cmd/vaultkube-agent: %v\n%s", err, out)
		}
	})
	if agentBinErr != nil {
		t.Fatal(agentBinErr)
	}
	return agentBin
}

// agentCmd returns the agent binary's command with cfg in its environment (and nothing
// else of the test's environment but PATH and the helper switch).
func agentCmd(t testing.TB, cfg *agentconfig.Config, args ...string) *exec.Cmd {
	t.Helper()
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	cmd := exec.Command(agentBinary(t), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", agentconfig.EnvVar + "=" + string(raw), helperEnv + "=1"}
	return cmd
}

// procStatus returns VmRSS and VmHWM (kB) of a running process.
func procStatus(pid int) (rss, hwm int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			fmt.Sscan(fields[1], &rss)
		case "VmHWM:":
			fmt.Sscan(fields[1], &hwm)
		}
	}
	return rss, hwm
}

func maxRSSKB(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}

func TestBinaryInit(t *testing.T) {
	v := sharedVault(t)
	path := secretName(t)
	v.putKV(t, path, map[string]any{"password": "bin-s3cr3t"})
	dir := t.TempDir()
	dest := filepath.Join(dir, "db")
	cfg := v.config(t, "init", "app", agentconfig.Template{Name: "db", SecretPath: "secret/data/" + path, Destination: dest, Perms: "0600"})
	cfg.LogLevel = "info"
	cmd := agentCmd(t, cfg, "agent")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	start := time.Now()
	require.NoError(t, cmd.Run(), logs.String())
	elapsed := time.Since(start)
	assert.Contains(t, readFile(t, dest), "password:bin-s3cr3t")
	assert.Equal(t, os.FileMode(0o600), fileMode(t, dest))
	assert.NotContains(t, logs.String(), "bin-s3cr3t")
	t.Logf("binary init mode, one KV v2 secret: %s from exec to exit, max RSS ≤ %d kB (includes this test's RSS at exec)",
		elapsed, maxRSSKB(cmd.ProcessState))

	// A failure exits non-zero with the reason (login failures are covered in process: the
	// binary retries them for about half a minute).
	cfg.Templates[0].Perms = "rw-------"
	cmd = agentCmd(t, cfg, "agent")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Equal(t, 1, cmd.ProcessState.ExitCode())
	assert.Equal(t, "error: agent config: template db: perms \"rw-------\" is not an octal file mode such as 0644\n", string(out))
}

func TestBinarySidecarWithProbe(t *testing.T) {
	v := sharedVault(t)
	path := secretName(t)
	v.putKV(t, path, map[string]any{"password": "sidecar-s3cr3t"})
	dir := t.TempDir()
	dest := filepath.Join(dir, "db")
	cfg := v.config(t, "sidecar", "app", agentconfig.Template{Name: "db", SecretPath: "secret/data/" + path, Destination: dest})
	cfg.LogLevel, cfg.LogFormat = "info", "json"
	cfg.ReadyFile = filepath.Join(dir, ".ready")
	cfg.TokenSinkPath = filepath.Join(dir, "token")
	cfg.RevokeOnShutdown = true

	probe := func() int {
		c := agentCmd(t, cfg, "agent", "probe")
		_ = c.Run()
		return c.ProcessState.ExitCode()
	}
	require.Equal(t, 1, probe(), "not ready before the agent runs")

	cmd := agentCmd(t, cfg, "agent")
	var logs syncBuffer
	cmd.Stderr = &logs
	start := time.Now()
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()
	waitFor(t, 15*time.Second, "the startup probe to pass", func() bool { return probe() == 0 })
	t.Logf("binary sidecar: ready (probe passed) %s after exec", time.Since(start))
	assert.Contains(t, readFile(t, dest), "password:sidecar-s3cr3t")
	time.Sleep(500 * time.Millisecond)
	rss, hwm := procStatus(cmd.Process.Pid)
	t.Logf("binary sidecar after the first render: VmRSS %d kB, VmHWM %d kB", rss, hwm)

	token := readFile(t, cfg.TokenSinkPath)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "SIGTERM ends the sidecar with status 0")
	case <-time.After(10 * time.Second):
		t.Fatal("the sidecar did not stop within 10s of SIGTERM")
	}
	_, err := v.clientWithToken(t, token).Auth().Token().LookupSelf()
	assert.Error(t, err, "token revoked on shutdown")

	// Every log line is JSON, and none carries the secret or the token.
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		assert.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
	}
	assertNoSecretsInLogs(t, logs.String(), "sidecar-s3cr3t", token)
}

func TestBinaryExec(t *testing.T) {
	v := sharedVault(t)
	path := secretName(t)
	v.putKV(t, path, map[string]any{"password": "exec-s3cr3t"})
	cfg := v.config(t, "exec", "app", agentconfig.Template{Name: "db", SecretPath: "secret/data/" + path, EnvPrefix: "APP_"})
	cfg.LogLevel = "info"

	t.Run("environment", func(t *testing.T) {
		cmd := agentCmd(t, cfg, append([]string{"agent", "exec", "--"}, helperArgv(t, "printenv", "APP_PASSWORD")...)...)
		var stdout, logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &logs
		require.NoError(t, cmd.Run(), logs.String())
		assert.Equal(t, "APP_PASSWORD=exec-s3cr3t\n", stdout.String())
		assert.NotContains(t, logs.String(), "exec-s3cr3t")
	})

	t.Run("signals forwarded, exit code passed through", func(t *testing.T) {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := agentCmd(t, cfg, append([]string{"agent", "exec", "--"}, helperArgv(t, "trap", ready)...)...)
		var stdout syncBuffer
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &logs
		require.NoError(t, cmd.Start())
		defer func() { _ = cmd.Process.Kill() }()
		waitFor(t, 15*time.Second, "the child to start", func() bool { _, err := os.Stat(ready); return err == nil })
		require.NoError(t, cmd.Process.Signal(syscall.SIGUSR1))
		waitFor(t, 5*time.Second, "SIGUSR1 forwarded", func() bool { return strings.Contains(stdout.String(), "got SIGUSR1") })
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		err := cmd.Wait()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, logs.String())
		assert.Equal(t, 42, ee.ExitCode(), "the child's exit status")
		assert.Contains(t, stdout.String(), "got SIGTERM")
	})

	t.Run("as PID 1 it reaps orphans", func(t *testing.T) {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("SKIPPED: needs unshare(1) to run the agent as PID 1 of a new PID namespace")
		}
		asPID1 := func(argv ...string) string {
			cmd := agentCmd(t, cfg)
			cmd.Path = unshare
			cmd.Args = append([]string{"unshare", "--pid", "--fork", "--mount-proc"}, argv...)
			out, err := cmd.Output()
			var ee *exec.ExitError
			if errors.As(err, &ee) && strings.Contains(string(ee.Stderr), "not permitted") {
				t.Skipf("SKIPPED: no permission for a new PID namespace: %s", ee.Stderr)
			}
			require.NoError(t, err)
			return string(out)
		}
		// Control: a PID 1 that does not reap leaves the orphan a zombie.
		assert.Equal(t, "orphan is a zombie\n", asPID1(helperArgv(t, "orphan-check")...))
		assert.Equal(t, "orphan reaped\n", asPID1(append([]string{agentBinary(t), "agent", "exec", "--"}, helperArgv(t, "orphan-check")...)...))

		// The exit code still passes through.
		cmd := agentCmd(t, cfg)
		cmd.Path = unshare
		cmd.Args = append([]string{"unshare", "--pid", "--fork", "--mount-proc", agentBinary(t), "agent", "exec", "--"}, helperArgv(t, "exit", "6")...)
		err = cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 6, ee.ExitCode())
	})

	t.Run("install then run the installed copy", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "shared")
		out, err := agentCmd(t, cfg, "agent", "install", dir).CombinedOutput()
		require.NoError(t, err, string(out))
		installed := filepath.Join(dir, "vaultkube")
		assert.Equal(t, os.FileMode(0o755), fileMode(t, installed))
		raw, _ := json.Marshal(cfg)
		cmd := exec.Command(installed, append([]string{"agent", "exec", "--"}, helperArgv(t, "exit", "5")...)...)
		cmd.Env = []string{agentconfig.EnvVar + "=" + string(raw), helperEnv + "=1"}
		err = cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 5, ee.ExitCode())
	})
}

func TestBinaryProxyAddress(t *testing.T) {
	v := sharedVault(t)
	path := secretName(t)
	v.putKV(t, path, map[string]any{"password": "proxied"})
	target, err := url.Parse(v.addr)
	require.NoError(t, err)
	var proxied atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A forward proxy sees absolute URLs for the name the agent was given.
		if r.URL.Host != "vault.example:8200" {
			http.Error(w, "unexpected host "+r.URL.Host, http.StatusBadGateway)
			return
		}
		proxied.Add(1)
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	dest := filepath.Join(t.TempDir(), "db")
	cfg := v.config(t, "init", "app", agentconfig.Template{Name: "db", SecretPath: "secret/data/" + path, Destination: dest})
	cfg.Vault.Address = "http://vault.example:8200" // resolvable by the proxy only
	cfg.Vault.ProxyAddress = proxy.URL
	out, err := agentCmd(t, cfg, "agent").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, readFile(t, dest), "password:proxied")
	assert.GreaterOrEqual(t, proxied.Load(), int32(2), "the login and the read (consul-template's client) went through the proxy")
}

func TestBinaryExecSignalBeforeStart(t *testing.T) {
	v := sharedVault(t)
	marker := filepath.Join(t.TempDir(), "started")
	cfg := v.config(t, "exec", "app", agentconfig.Template{Name: "db", SecretPath: "secret/data/x", EnvPrefix: "DB_"})
	cfg.Vault.Address = "http://127.0.0.1:1" // nothing listens: the login keeps retrying
	cmd := agentCmd(t, cfg, append([]string{"agent", "exec", "--"}, helperArgv(t, "touch", marker)...)...)
	var logs syncBuffer
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()
	waitFor(t, 10*time.Second, "the first login attempt", func() bool { return strings.Contains(logs.String(), "vault login failed, retrying") })

	require.NoError(t, cmd.Process.Signal(syscall.SIGWINCH))
	time.Sleep(200 * time.Millisecond)
	rss, _ := procStatus(cmd.Process.Pid)
	require.Positive(t, rss, "SIGWINCH before the command starts is ignored: the agent still runs (not a zombie)")

	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, logs.String())
	assert.Equal(t, 128+int(syscall.SIGTERM), ee.ExitCode())
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.NoFileExists(t, marker, "the command never started")
}
