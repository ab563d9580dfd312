//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startRaftVault starts a single-node raft Vault as a local process on 127.0.0.1 (the pivot's
// source), initialises it with 5 shares / threshold 3, unseals it (keys on stdin) and returns
// it with its init JSON file.
func (c *cluster) startRaftVault(t *testing.T) (*localVault, string) {
	t.Helper()
	bin := filepath.Join(c.bin, "vault")
	dir := t.TempDir()
	api, cl := freePort(t), freePort(t)
	cfg := fmt.Sprintf(`storage "raft" {
  path = %q
  node_id = "source-0"
}
listener "tcp" {
  address = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable = true
}
api_addr = "http://127.0.0.1:%d"
cluster_addr = "http://127.0.0.1:%d"
disable_mlock = true
`, filepath.Join(dir, "data"), api, cl, api, cl)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(cfg), 0o600))
	v := &localVault{addr: fmt.Sprintf("http://127.0.0.1:%d", api), bin: bin}
	v.cmd = exec.Command(bin, "server", "-config="+filepath.Join(dir, "vault.hcl"))
	logf, err := os.Create(filepath.Join(dir, "vault.log"))
	require.NoError(t, err)
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	require.NoError(t, v.cmd.Start())
	t.Cleanup(func() { _ = v.cmd.Process.Kill(); _, _ = v.cmd.Process.Wait() })
	var out string
	require.Eventually(t, func() bool {
		out, err = v.run(t, "", "operator", "init", "-key-shares=5", "-key-threshold=3", "-format=json")
		return err == nil
	}, 30*time.Second, 300*time.Millisecond, "source vault init: %s", out)
	initFile := filepath.Join(dir, "source-init.json")
	require.NoError(t, os.WriteFile(initFile, []byte(out), 0o600))
	var init struct {
		Keys      []string `json:"unseal_keys_b64"`
		RootToken string   `json:"root_token"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &init))
	for _, k := range init.Keys[:3] {
		_, err = v.run(t, k, "write", "sys/unseal", "key=-")
		require.NoError(t, err)
	}
	v.token = init.RootToken
	require.Eventually(t, func() bool {
		_, err := v.run(t, "", "kv", "list", "sys/") // any authenticated call once active
		_, err2 := v.run(t, "", "secrets", "list")
		return err2 == nil || err == nil
	}, 30*time.Second, 300*time.Millisecond, "source vault active")
	return v, initFile
}

// TestPivot (level 2): the in-cluster 3-pod Vault takes over the data of a separate source
// Vault (raft, its own 5/3 keys) with `kubectl vault pivot`, first killed mid-way and then
// resumed from its journal. Afterwards the source's secret is readable in the cluster, every
// pod is unsealed with the source's keys, one is active and all three are raft voters.
func TestPivot(t *testing.T) {
	c := getCluster(t)
	c.requireLevel2(t)
	targetRoot := c.unsealedVault(t)
	dir := t.TempDir()
	targetToken := filepath.Join(dir, "target.token")
	require.NoError(t, os.WriteFile(targetToken, []byte(targetRoot+"\n"), 0o600))

	src, srcInit := c.startRaftVault(t)
	_, err := src.run(t, "", "secrets", "enable", "-path=secret", "kv-v2")
	require.NoError(t, err)
	_, err = src.run(t, "", "kv", "put", "secret/pivot", "origin=source-vault")
	require.NoError(t, err)
	srcToken := filepath.Join(dir, "source.token")
	require.NoError(t, os.WriteFile(srcToken, []byte(src.token+"\n"), 0o600))

	args := []string{"pivot", "--source-addr", src.addr, "--source-token-file", srcToken,
		"--source-keys", srcInit, "--vault-token-file", targetToken,
		"--snapshot", filepath.Join(dir, "source.snap"), "--backup", filepath.Join(dir, "backup.snap"),
		"--journal", filepath.Join(dir, "journal.json"), "--yes"}

	// Dry run: preflight and plan, nothing changed.
	stdout, stderr, code := c.kubectlVault(t, "", append(args, "--dry-run")...)
	require.Equal(t, 0, code, "dry run: %s %s", stdout, stderr)

	// First run, killed when the step that deletes the other pods' claims starts.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, repoBinary(t, "kubectl-vault"), append([]string{"--kubeconfig", c.kubeconfig, "-n", "vault"}, args...)...)
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var firstRun strings.Builder
	var once sync.Once
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		firstRun.WriteString(line + "\n")
		// Killed while it deletes the other pods' claims: half-done destructive work that the
		// resumed run must finish. (Killing it in the middle of streaming the snapshot into
		// the pod once left a restore that failed its checksum on resume: see the issue note.)
		if strings.HasPrefix(line, "Step ") && strings.Contains(line, "delete PVCs") {
			once.Do(func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		}
	}
	_ = cmd.Wait()
	t.Logf("first run (killed):\n%s", firstRun.String())
	require.Contains(t, firstRun.String(), "Step ", "the first run got to its steps")

	stdout, stderr, code = c.kubectlVault(t, "", append(args, "--resume")...)
	t.Logf("resumed run:\n%s%s", stdout, stderr)
	require.Equal(t, 0, code, "resumed pivot: %s %s", stdout, stderr)
	assert.Contains(t, stderr, "Resuming")

	// From now on the in-cluster Vault unseals with the source's keys.
	raw, err := os.ReadFile(srcInit)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(c.initFile(), raw, 0o600))

	report := c.waitForVoters(t, srcToken)
	leaders := 0
	for _, r := range report.Raft {
		if r.Leader {
			leaders++
		}
	}
	assert.Equal(t, 1, leaders)
	for _, p := range report.Pods {
		require.NotNil(t, p.Vault, p.Pod)
		assert.False(t, p.Vault.Sealed, p.Pod)
	}
	out, err := c.vaultAsRoot(t, src.token, "vault kv get -field=origin secret/pivot")
	require.NoError(t, err)
	assert.Equal(t, "source-vault", strings.TrimSpace(out))
	// The target's old root token is gone with its data.
	_, err = c.vaultAsRoot(t, targetRoot, "vault token lookup >/dev/null")
	assert.Error(t, err)
}
