package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// vaultBinary is the real Vault built by `make deps` (override with VAULTKUBE_VAULT_BIN).
func vaultBinary(t *testing.T) string {
	t.Helper()
	p := os.Getenv("VAULTKUBE_VAULT_BIN")
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "vaultkube", "bin", "vault")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIPPED: the real Vault binary is missing at %s (%v): run `make deps` to build it, or set VAULTKUBE_VAULT_BIN; the integration test against real Vault servers did NOT run", p, err)
	}
	return p
}

// localPod is a Vault server process standing in for a pod.
type localPod struct {
	addr    string
	dataDir string
	cmd     *exec.Cmd
	start   func() *exec.Cmd
}

// restart kills the server and starts it again, as a pod restart does: it comes back sealed.
func (p *localPod) restart(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = p.start()
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.addr, "http://"), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 100*time.Millisecond)
}

// LocalExecutor runs the plugin's exec commands as local processes: `vault` is the real
// binary with VAULT_ADDR set to the pod's server (as the chart sets it in the container's
// env), and /vault/data maps to the pod's data directory. Every argv and stdin is recorded.
type LocalExecutor struct {
	vault string
	home  string
	pods  map[string]*localPod

	mu    sync.Mutex
	calls []execCall
}

func (l *LocalExecutor) Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	p, ok := l.pods[pod]
	if !ok {
		return fmt.Errorf("pods %q not found", pod)
	}
	var in []byte
	if stdin != nil {
		var err error
		if in, err = io.ReadAll(stdin); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.calls = append(l.calls, execCall{Pod: pod, Argv: append([]string(nil), cmd...), Stdin: in})
	l.mu.Unlock()
	args := make([]string, len(cmd))
	for i, a := range cmd {
		a = strings.ReplaceAll(a, DefaultDataDir, p.dataDir)
		if a == "vault" && (i == 0 || (i == 3 && cmd[0] == "sh")) {
			a = l.vault
		}
		args[i] = a
	}
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.home, "VAULT_ADDR=" + p.addr}
	c.Stdin = strings.NewReader(string(in))
	c.Stdout, c.Stderr = stdout, stderr
	return c.Run()
}

func (l *LocalExecutor) argvs() [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]string
	for _, c := range l.calls {
		out = append(out, c.Argv)
	}
	return out
}

type localPods []corev1.Pod

func (p localPods) ListPods(context.Context) ([]corev1.Pod, error) {
	return append([]corev1.Pod(nil), p...), nil
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	p, err := freePort()
	require.NoError(t, err)
	return p
}

// startVaultCluster starts n raft Vault servers on 127.0.0.1; nodes 1.. retry_join node 0.
func startVaultCluster(t *testing.T, bin string, n int) (*LocalExecutor, localPods) {
	t.Helper()
	root := t.TempDir()
	l := &LocalExecutor{vault: bin, home: filepath.Join(root, "home"), pods: map[string]*localPod{}}
	require.NoError(t, os.MkdirAll(l.home, 0o700))
	var pods localPods
	var leader string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("vault-%d", i)
		api, cluster := freeTCPPort(t), freeTCPPort(t)
		dir := filepath.Join(root, name)
		data := filepath.Join(dir, "data")
		require.NoError(t, os.MkdirAll(data, 0o700))
		addr := fmt.Sprintf("http://127.0.0.1:%d", api)
		if i == 0 {
			leader = addr
		}
		join := ""
		if i > 0 {
			join = fmt.Sprintf("retry_join {\n    leader_api_addr = %q\n  }", leader)
		}
		cfg := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = %q
  %s
}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr      = %q
cluster_addr  = "https://127.0.0.1:%d"
disable_mlock = true
ui            = false
log_level     = "warn"
`, data, name, join, api, cluster, addr, cluster)
		cfgPath := filepath.Join(dir, "vault.hcl")
		require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
		logf, err := os.Create(filepath.Join(dir, "server.log"))
		require.NoError(t, err)
		lp := &localPod{addr: addr, dataDir: data}
		lp.start = func() *exec.Cmd {
			cmd := exec.Command(bin, "server", "-config="+cfgPath)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.home}
			cmd.Stdout, cmd.Stderr = logf, logf
			require.NoError(t, cmd.Start())
			return cmd
		}
		lp.cmd = lp.start()
		t.Cleanup(func() {
			_ = lp.cmd.Process.Kill()
			_ = lp.cmd.Wait()
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", name, b)
			}
		})
		l.pods[name] = lp
		pods = append(pods, fakePod(name))
	}
	// Wait until every server answers.
	for name, p := range l.pods {
		require.Eventually(t, func() bool {
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.addr, "http://"), 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, 20*time.Second, 100*time.Millisecond, "%s did not start listening", name)
	}
	return l, pods
}

// localVault runs the real Vault CLI against one server, for the test's own checks.
func localVault(t *testing.T, l *LocalExecutor, pod, token string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(l.vault, args...)
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.home, "VAULT_ADDR=" + l.pods[pod].addr, "VAULT_TOKEN=" + token}
	b, err := c.CombinedOutput()
	return string(b), err
}

func TestIntegrationRealVault(t *testing.T) {
	bin := vaultBinary(t)
	start := time.Now()
	l, pods := startVaultCluster(t, bin, 3)
	cl := &Cluster{Namespace: "vault", Exec: l, Pods: pods}
	runReal := func(stdin string, args ...string) (string, string, int) {
		var out, errb strings.Builder
		return runWith(t, cl, stdin, &out, &errb, args...)
	}
	dir := t.TempDir()
	keysOut := filepath.Join(dir, "init.json")

	// Fresh Vault: not initialised, exit 2.
	out, errOut, code := runReal("", "status")
	assert.Equal(t, 2, code, out+errOut)
	assert.Contains(t, errOut, "Vault is not initialised")

	// init → unseal (vault-1 and vault-2 join through retry_join and unseal a moment later).
	_, errOut, code = runReal("", "init", "--keys-out", keysOut, "--key-shares", "3", "--key-threshold", "2", "--unseal", "--wait", "40s", "--poll-interval", "250ms")
	require.Equal(t, 0, code, errOut)
	t.Logf("init+unseal:\n%s", errOut)
	b, err := os.ReadFile(keysOut)
	require.NoError(t, err)
	var ij initJSON
	require.NoError(t, json.Unmarshal(b, &ij))
	require.Len(t, ij.UnsealKeysB64, 3)
	token := ij.RootToken
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))

	// status: one active, two standbys, three raft peers (voters once autopilot promotes).
	var st ClusterStatus
	require.Eventually(t, func() bool {
		out, _, code := runReal("", "status", "-o", "json", "--vault-token-file", tokenFile)
		st = ClusterStatus{}
		_ = json.Unmarshal([]byte(out), &st)
		return code == 0 && len(st.Raft) == 3
	}, 40*time.Second, 500*time.Millisecond, "status did not become healthy with 3 raft peers: %+v", st)
	roles := map[string]int{}
	for _, p := range st.Pods {
		roles[p.Vault.HARole()]++
		assert.Equal(t, "raft", p.Vault.StorageType)
	}
	assert.Equal(t, map[string]int{"active": 1, "standby": 2}, roles)
	out, _, _ = runReal("", "status", "--vault-token-file", tokenFile)
	t.Logf("status:\n%s", out)
	o, err := localVault(t, l, "vault-0", token, "operator", "raft", "autopilot", "state", "-format=json")
	t.Logf("autopilot state (%v):\n%s", err, o)

	// Restart one standby (it comes back sealed); unseal it with the keys file through
	// sys/unseal key=- (stdin).
	var standby string
	for _, p := range st.Pods {
		if p.Vault.HARole() == "standby" {
			standby = p.Pod
		}
	}
	l.pods[standby].restart(t)
	_, errOut, code = runReal("", "status")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "pod "+standby+" is sealed: run `kubectl vault unseal`")
	_, errOut, code = runReal("", "unseal", "--keys-file", keysOut, "--poll-interval", "250ms")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, standby+": unsealed")

	// A key of another cluster: one clear sentence.
	l.pods[standby].restart(t)
	wrong := filepath.Join(dir, "wrong")
	require.NoError(t, os.WriteFile(wrong, []byte(testKey(1)+"\n"+testKey(2)+"\n"), 0o600))
	_, errOut, code = runReal("", "unseal", standby, "--keys-file", wrong)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "rejected the unseal keys")
	_, errOut, code = runReal("", "unseal", standby, "--keys-file", keysOut, "--reset", "--poll-interval", "250ms")
	require.Equal(t, 0, code, errOut)

	// Write a secret, snapshot, delete the secret, restore: the secret is back.
	active := activePod(st.Pods).Pod
	o, err = localVault(t, l, active, token, "secrets", "enable", "-path=secret", "-version=1", "kv")
	require.NoError(t, err, o)
	o, err = localVault(t, l, active, token, "kv", "put", "secret/app", "password=s3cr3t")
	require.NoError(t, err, o)

	snap := filepath.Join(dir, "vault.snap")
	_, errOut, code = runReal("", "snapshot", "save", snap, "--vault-token-file", tokenFile)
	require.Equal(t, 0, code, errOut)
	fi, err := os.Stat(snap)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Greater(t, fi.Size(), int64(1000))
	_, err = os.Stat(snap + ".sha256")
	require.NoError(t, err)

	o, err = localVault(t, l, active, token, "kv", "delete", "secret/app")
	require.NoError(t, err, o)
	o, err = localVault(t, l, active, token, "kv", "get", "secret/app")
	require.Error(t, err, o)

	_, errOut, code = runReal("n\n", "snapshot", "restore", snap, "--vault-token-file", tokenFile)
	assert.Equal(t, 3, code, errOut)
	_, errOut, code = runReal("", "snapshot", "restore", snap, "--yes", "--vault-token-file", tokenFile)
	require.Equal(t, 0, code, errOut)
	t.Logf("restore:\n%s", errOut)
	require.Eventually(t, func() bool {
		o, err := localVault(t, l, active, token, "kv", "get", "-field=password", "secret/app")
		return err == nil && strings.TrimSpace(o) == "s3cr3t"
	}, 20*time.Second, 250*time.Millisecond, "the secret did not come back after the restore")

	// No temporary files left on the data volumes.
	for name, p := range l.pods {
		entries, _ := os.ReadDir(p.dataDir)
		for _, e := range entries {
			assert.NotContains(t, e.Name(), ".kubectl-vault-", "left in %s", name)
		}
	}
	// No key or token ever in an exec argv.
	secrets := append(append([]string{}, ij.UnsealKeysB64...), token)
	for _, argv := range l.argvs() {
		for _, s := range secrets {
			require.NotContains(t, strings.Join(argv, " "), s)
		}
	}
	t.Logf("integration test against 3 real Vault servers took %s", time.Since(start).Round(time.Millisecond))
}
