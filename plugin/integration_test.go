package plugin

import (
	"context"
	"crypto/sha256"
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
	"k8s.io/apimachinery/pkg/types"
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

// localPod is a Vault server process standing in for a pod of the StatefulSet.
type localPod struct {
	name        string
	ordinal     int
	addr        string // API address, as VAULT_ADDR in the container
	clusterAddr string // host:port of the raft/cluster listener
	dataDir     string // the pod's "PVC", mounted at /vault/data
	cfgPath     string
	log         *os.File
	cmd         *exec.Cmd // nil while the pod does not run
	uid         int
}

// LocalExecutor runs the plugin's exec commands as local processes and plays the
// StatefulSet: `vault` is the real binary with VAULT_ADDR set to the pod's server (as the
// chart sets it in the container's env), /vault/data maps to the pod's data directory, and
// raft addresses `vault-N.vault-internal:8201` map to the local cluster ports (cluster DNS).
// It also lists pods, scales, deletes pods (a restart) and deletes PVCs (wipes the data
// directory). Every argv and stdin is recorded.
type LocalExecutor struct {
	t        *testing.T
	vault    string
	home     string
	root     string
	pods     map[string]*localPod
	replicas int

	mu    sync.Mutex
	calls []execCall
	// peersJSON is what was written to each peers.json before its addresses were
	// rewritten for the local processes
	peersJSON map[string][]byte
}

func (l *LocalExecutor) Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	l.mu.Lock()
	p, ok := l.pods[pod]
	running := ok && p.cmd != nil
	l.mu.Unlock()
	if !running {
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
	if strings.HasSuffix(args[len(args)-1], "raft/peers.json") {
		if cmd[0] == "sha256sum" {
			// the file holds the rewritten addresses; the writer checks what it sent
			l.mu.Lock()
			sum := sha256.Sum256(l.peersJSON[args[len(args)-1]])
			l.mu.Unlock()
			_, err := fmt.Fprintf(stdout, "%x  %s\n", sum, args[len(args)-1])
			return err
		}
		l.mu.Lock()
		if l.peersJSON == nil {
			l.peersJSON = map[string][]byte{}
		}
		l.peersJSON[args[len(args)-1]] = in
		l.mu.Unlock()
		s := string(in)
		for _, o := range l.pods {
			s = strings.ReplaceAll(s, o.name+".vault-internal:8201", o.clusterAddr)
		}
		in = []byte(s)
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

// ListPods lists the running pods as the chart labels them.
func (l *LocalExecutor) ListPods(context.Context) ([]corev1.Pod, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var pods []corev1.Pod
	for _, p := range l.pods {
		if p.cmd == nil {
			continue
		}
		pod := fakePod(p.name)
		pod.UID = types.UID(fmt.Sprintf("%s-%d", p.name, p.uid))
		pods = append(pods, pod)
	}
	return pods, nil
}

func (l *LocalExecutor) StatefulSetReplicas(context.Context, string) (int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int32(l.replicas), nil
}

func (l *LocalExecutor) ScaleStatefulSet(_ context.Context, _ string, replicas int32) error {
	l.mu.Lock()
	l.replicas = int(replicas)
	var stop, start []*localPod
	for _, p := range l.pods {
		if p.ordinal >= int(replicas) && p.cmd != nil {
			stop = append(stop, p)
		}
	}
	l.mu.Unlock()
	for _, p := range stop {
		l.stop(p)
	}
	for i := 0; i < int(replicas); i++ {
		name := fmt.Sprintf("vault-%d", i)
		l.mu.Lock()
		p := l.pods[name]
		l.mu.Unlock()
		if p == nil {
			p = l.newPod(i)
		}
		if p.cmd == nil {
			start = append(start, p)
		}
	}
	for _, p := range start {
		l.start(p)
	}
	return nil
}

// DeletePVC wipes the pod's data directory (the pod must not run, as with a real claim).
func (l *LocalExecutor) DeletePVC(_ context.Context, name string) error {
	pod := strings.TrimPrefix(name, "data-")
	l.mu.Lock()
	p := l.pods[pod]
	l.mu.Unlock()
	if p == nil {
		return nil
	}
	if p.cmd != nil {
		return fmt.Errorf("PVC %s is in use by a running pod", name)
	}
	if err := os.RemoveAll(p.dataDir); err != nil {
		return err
	}
	return os.MkdirAll(p.dataDir, 0o700)
}

func (l *LocalExecutor) PVCExists(_ context.Context, name string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.pods[strings.TrimPrefix(name, "data-")]
	return ok, nil
}

// DeletePod restarts the server, as the StatefulSet recreates a deleted pod.
func (l *LocalExecutor) DeletePod(_ context.Context, pod string) error {
	l.mu.Lock()
	p := l.pods[pod]
	l.mu.Unlock()
	if p == nil || p.cmd == nil {
		return fmt.Errorf("pods %q not found", pod)
	}
	l.stop(p)
	l.start(p)
	return nil
}

// restart kills and starts a pod's server: it comes back sealed.
func (p *localPod) restart(t *testing.T, l *LocalExecutor) {
	t.Helper()
	l.stop(p)
	l.start(p)
}

func (l *LocalExecutor) newPod(i int) *localPod {
	t := l.t
	name := fmt.Sprintf("vault-%d", i)
	api, cluster := freeTCPPort(t), freeTCPPort(t)
	dir := filepath.Join(l.root, name)
	p := &localPod{name: name, ordinal: i, addr: fmt.Sprintf("http://127.0.0.1:%d", api),
		clusterAddr: fmt.Sprintf("127.0.0.1:%d", cluster), dataDir: filepath.Join(dir, "data"), cfgPath: filepath.Join(dir, "vault.hcl")}
	require.NoError(t, os.MkdirAll(p.dataDir, 0o700))
	join := ""
	if i > 0 {
		join = fmt.Sprintf("retry_join {\n    leader_api_addr = %q\n  }", l.pods["vault-0"].addr)
	}
	// No node_id: Vault writes /vault/data/node-id, as in the chart.
	cfg := fmt.Sprintf(`storage "raft" {
  path = %q
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
`, p.dataDir, join, api, cluster, p.addr, cluster)
	require.NoError(t, os.WriteFile(p.cfgPath, []byte(cfg), 0o600))
	var err error
	p.log, err = os.Create(filepath.Join(dir, "server.log"))
	require.NoError(t, err)
	l.mu.Lock()
	l.pods[name] = p
	l.mu.Unlock()
	t.Cleanup(func() {
		l.stop(p)
		p.log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.log.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
	return p
}

func (l *LocalExecutor) start(p *localPod) {
	t := l.t
	cmd := exec.Command(l.vault, "server", "-config="+p.cfgPath)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.home}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(p.addr, "http://"), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "%s did not start listening", p.name)
	l.mu.Lock()
	p.cmd = cmd
	p.uid++
	l.mu.Unlock()
}

func (l *LocalExecutor) stop(p *localPod) {
	l.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	l.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

func (l *LocalExecutor) cluster() *Cluster {
	return &Cluster{Namespace: "vault", Exec: l, Pods: l, Deleter: l, Workload: l}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	p, err := freePort()
	require.NoError(t, err)
	return p
}

// startVaultCluster starts n raft Vault servers on 127.0.0.1 only; pods 1.. retry_join pod 0.
func startVaultCluster(t *testing.T, bin string, n int) *LocalExecutor {
	t.Helper()
	root := t.TempDir()
	l := &LocalExecutor{t: t, vault: bin, home: filepath.Join(root, "home"), root: root, pods: map[string]*localPod{}, replicas: n}
	require.NoError(t, os.MkdirAll(l.home, 0o700))
	for i := 0; i < n; i++ {
		l.start(l.newPod(i))
	}
	return l
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
	t.Parallel()
	start := time.Now()
	l := startVaultCluster(t, bin, 3)
	cl := l.cluster()
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
	// sys/unseal - (a JSON body on stdin).
	var standby string
	for _, p := range st.Pods {
		if p.Vault.HARole() == "standby" {
			standby = p.Pod
		}
	}
	l.pods[standby].restart(t, l)
	_, errOut, code = runReal("", "status")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "pod "+standby+" is sealed: run `kubectl vault unseal`")
	_, errOut, code = runReal("", "unseal", "--keys-file", keysOut, "--poll-interval", "250ms")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, standby+": unsealed")

	// A key of another cluster: one clear sentence.
	l.pods[standby].restart(t, l)
	wrong := filepath.Join(dir, "wrong")
	require.NoError(t, os.WriteFile(wrong, []byte(testKey(1)+"\n"+testKey(2)+"\n"), 0o600))
	_, errOut, code = runReal("", "unseal", standby, "--keys-file", wrong)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "rejected the unseal keys")
	// Someone else's unseal in progress (a wrong key, 1/2): --reset discards it first.
	o, err = localVault(t, l, standby, "", "operator", "unseal", testKey(3))
	require.NoError(t, err, o)
	_, errOut, code = runReal("", "unseal", standby, "--keys-file", keysOut, "--reset", "--poll-interval", "250ms")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, standby+": discarding the unseal in progress (1/2)")

	// The Vault CLI accepts the TLS flags the plugin passes (on plain HTTP they change nothing).
	_, errOut, code = runReal("", "status", "--vault-skip-verify", "--vault-tls-server-name", "vault.vault.svc")
	assert.Equal(t, 0, code, errOut)

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

// TestIntegrationPivotRealVault pivots a 3-node target onto a separate 1-node source Vault,
// interrupting the run once and resuming it: afterwards the source's secret is readable
// through every target pod, which all unseal with the source keys.
func TestIntegrationPivotRealVault(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: this real-Vault test takes up to a minute; run without -short")
	}
	bin := vaultBinary(t)
	t.Parallel()
	start := time.Now()
	dir := t.TempDir()
	runOn := func(cl *Cluster, stdin string, args ...string) (string, string, int) {
		var out, errb strings.Builder
		return runWith(t, cl, stdin, &out, &errb, args...)
	}
	initCluster := func(l *LocalExecutor, name string, shares, threshold int) (keysFile, token, tokenFile string) {
		keysFile = filepath.Join(dir, name+"-init.json")
		_, errOut, code := runOn(l.cluster(), "", "init", "--keys-out", keysFile, "--key-shares", fmt.Sprint(shares),
			"--key-threshold", fmt.Sprint(threshold), "--unseal", "--wait", "40s", "--poll-interval", "250ms")
		require.Equal(t, 0, code, errOut)
		b, err := os.ReadFile(keysFile)
		require.NoError(t, err)
		var ij initJSON
		require.NoError(t, json.Unmarshal(b, &ij))
		tokenFile = filepath.Join(dir, name+".token")
		require.NoError(t, os.WriteFile(tokenFile, []byte(ij.RootToken+"\n"), 0o600))
		return keysFile, ij.RootToken, tokenFile
	}

	// The source: one node, 5/3 keys, a secret, a snapshot taken through the plugin.
	src := startVaultCluster(t, bin, 1)
	srcKeys, srcToken, srcTokenFile := initCluster(src, "source", 5, 3)
	require.Eventually(t, func() bool {
		_, err := localVault(t, src, "vault-0", srcToken, "secrets", "enable", "-path=secret", "-version=1", "kv")
		return err == nil
	}, 20*time.Second, 250*time.Millisecond)
	o, err := localVault(t, src, "vault-0", srcToken, "kv", "put", "secret/pivot", "from=source")
	require.NoError(t, err, o)
	// Autopilot promotes new peers to voters after 2s instead of 10s (the setting travels in
	// the snapshot, so the pivoted target inherits it): a faster test, the same behaviour.
	o, err = localVault(t, src, "vault-0", srcToken, "operator", "raft", "autopilot", "set-config", "-server-stabilization-time=2s")
	require.NoError(t, err, o)
	// The pivot takes the source's snapshot itself, over the source's API.
	snap := filepath.Join(dir, "source.snap")

	// The target: 3 pods, its own 3/2 keys.
	tgt := startVaultCluster(t, bin, 3)
	_, tgtToken, tgtTokenFile := initCluster(tgt, "target", 3, 2)
	require.Eventually(t, func() bool {
		_, err := localVault(t, tgt, "vault-0", tgtToken, "operator", "raft", "autopilot", "set-config", "-server-stabilization-time=2s")
		return err == nil
	}, 20*time.Second, 250*time.Millisecond)
	require.Eventually(t, func() bool {
		_, _, code := runOn(tgt.cluster(), "", "status", "--vault-token-file", tgtTokenFile)
		return code == 0
	}, 40*time.Second, 500*time.Millisecond, "target did not become healthy")

	// Step vault-0 down once all three are voters (autopilot promotes after ~10s): another
	// pod is then active, and the pivot has to step it down until vault-0 leads.
	require.Eventually(t, func() bool {
		out, _, _ := runOn(tgt.cluster(), "", "status", "-o", "json", "--vault-token-file", tgtTokenFile)
		var st ClusterStatus
		_ = json.Unmarshal([]byte(out), &st)
		voters := 0
		for _, p := range st.Raft {
			if p.Voter {
				voters++
			}
		}
		return voters == 3
	}, 40*time.Second, 500*time.Millisecond, "autopilot did not promote the target's peers to voters")
	o, err = localVault(t, tgt, "vault-0", tgtToken, "operator", "step-down")
	require.NoError(t, err, o)
	require.Eventually(t, func() bool {
		out, _, _ := runOn(tgt.cluster(), "", "status", "-o", "json")
		var st ClusterStatus
		_ = json.Unmarshal([]byte(out), &st)
		a := activePod(st.Pods)
		return a != nil && a.Pod != "vault-0"
	}, 20*time.Second, 250*time.Millisecond, "another pod did not take over")

	journal := filepath.Join(dir, "pivot.journal")
	args := []string{"pivot", "--source-addr", src.pods["vault-0"].addr, "--snapshot", snap, "--source-keys", srcKeys, "--vault-token-file", tgtTokenFile,
		"--source-token-file", srcTokenFile, "--journal", journal, "--backup", filepath.Join(dir, "target-backup.snap"),
		"--yes", "--timeout", "60s", "--poll-interval", "250ms"}

	// Interrupt the run when it deletes the first PVC (the API server "goes away").
	cl := tgt.cluster()
	cl.Workload = &interruptingWorkload{LocalExecutor: tgt}
	_, errOut, code := runOn(cl, "", args...)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "Source snapshot saved to "+snap)
	require.Contains(t, errOut, "to step down")
	require.Contains(t, errOut, "run the same command with --resume")
	t.Logf("interrupted pivot:\n%s", errOut)

	_, errOut, code = runOn(tgt.cluster(), "", append(args, "--resume")...)
	t.Logf("resumed pivot:\n%s", errOut)
	require.Equal(t, 0, code, errOut)

	for _, pod := range []string{"vault-0", "vault-1", "vault-2"} {
		require.Eventually(t, func() bool {
			o, err := localVault(t, tgt, pod, srcToken, "kv", "get", "-field=from", "secret/pivot")
			return err == nil && strings.TrimSpace(o) == "source"
		}, 20*time.Second, 250*time.Millisecond, "the source's secret is not readable through %s", pod)
	}
	out, _, code := runOn(tgt.cluster(), "", "status", "--vault-token-file", srcTokenFile)
	t.Logf("status after the pivot:\n%s", out)
	assert.Equal(t, 0, code)

	b, err := os.ReadFile(srcKeys)
	require.NoError(t, err)
	var ij initJSON
	require.NoError(t, json.Unmarshal(b, &ij))
	for _, argv := range tgt.argvs() {
		for _, s := range append(ij.UnsealKeysB64, srcToken) {
			require.NotContains(t, strings.Join(argv, " "), s)
		}
	}
	t.Logf("pivot against real Vault servers took %s", time.Since(start).Round(time.Millisecond))
}

// interruptingWorkload fails the first PVC deletion, as an interrupted pivot would.
type interruptingWorkload struct {
	*LocalExecutor
	failed bool
}

func (w *interruptingWorkload) DeletePVC(ctx context.Context, name string) error {
	if !w.failed {
		w.failed = true
		return fmt.Errorf("the connection to the server was refused")
	}
	return w.LocalExecutor.DeletePVC(ctx, name)
}

// TestIntegrationRaftRecoverRealVault loses quorum (two of three pods gone) and recovers
// vault-0 as a one-node cluster with `raft recover --restart`: its data is still there.
func TestIntegrationRaftRecoverRealVault(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: this real-Vault test takes up to a minute; run without -short")
	}
	bin := vaultBinary(t)
	t.Parallel()
	dir := t.TempDir()
	l := startVaultCluster(t, bin, 3)
	runReal := func(stdin string, args ...string) (string, string, int) {
		var out, errb strings.Builder
		return runWith(t, l.cluster(), stdin, &out, &errb, args...)
	}
	keysOut := filepath.Join(dir, "init.json")
	_, errOut, code := runReal("", "init", "--keys-out", keysOut, "--key-shares", "3", "--key-threshold", "2", "--unseal", "--wait", "40s", "--poll-interval", "250ms")
	require.Equal(t, 0, code, errOut)
	b, err := os.ReadFile(keysOut)
	require.NoError(t, err)
	var ij initJSON
	require.NoError(t, json.Unmarshal(b, &ij))
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(ij.RootToken+"\n"), 0o600))
	require.Eventually(t, func() bool {
		_, err := localVault(t, l, "vault-0", ij.RootToken, "operator", "raft", "autopilot", "set-config", "-server-stabilization-time=2s")
		return err == nil
	}, 20*time.Second, 250*time.Millisecond)
	require.Eventually(t, func() bool {
		out, _, _ := runReal("", "status", "-o", "json", "--vault-token-file", tokenFile)
		var st ClusterStatus
		_ = json.Unmarshal([]byte(out), &st)
		voters := 0
		for _, p := range st.Raft {
			if p.Voter {
				voters++
			}
		}
		return voters == 3
	}, 40*time.Second, 500*time.Millisecond, "three voters")
	o, err := localVault(t, l, "vault-0", ij.RootToken, "secrets", "enable", "-path=secret", "-version=1", "kv")
	require.NoError(t, err, o)
	o, err = localVault(t, l, "vault-0", ij.RootToken, "kv", "put", "secret/keep", "v=1")
	require.NoError(t, err, o)

	// Two pods and their volumes are gone for good: no quorum, no active pod.
	require.NoError(t, l.ScaleStatefulSet(t.Context(), "vault", 1))
	require.Eventually(t, func() bool {
		_, _, code := runReal("", "status")
		return code == 2
	}, 30*time.Second, 500*time.Millisecond, "vault-0 kept leading without quorum")

	out, errOut, code := runReal("", "raft", "recover", "--dry-run")
	require.Equal(t, 0, code, errOut)
	nodeID, err := os.ReadFile(filepath.Join(l.pods["vault-0"].dataDir, "node-id"))
	require.NoError(t, err)
	assert.JSONEq(t, `[{"id":"`+strings.TrimSpace(string(nodeID))+`","address":"vault-0.vault-internal:8201","non_voter":false}]`, out)

	_, errOut, code = runReal("", "raft", "recover", "--yes", "--restart")
	require.Equal(t, 0, code, errOut)
	_, errOut, code = runReal("", "unseal", "0", "--keys-file", keysOut, "--poll-interval", "250ms")
	require.Equal(t, 0, code, errOut)
	require.Eventually(t, func() bool {
		o, err := localVault(t, l, "vault-0", ij.RootToken, "kv", "get", "-field=v", "secret/keep")
		return err == nil && strings.TrimSpace(o) == "1"
	}, 30*time.Second, 250*time.Millisecond, "vault-0 did not lead a one-node cluster with its data")
	out, _, code = runReal("", "status", "--vault-token-file", tokenFile)
	t.Logf("status after raft recover:\n%s", out)
	assert.Equal(t, 0, code)
}
