//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// initFile is where the in-cluster Vault's init JSON lives between tests (and for make demo).
func (c *cluster) initFile() string { return filepath.Join(c.state, "vault-init.json") }

// kubectlVault runs the real `kubectl vault` binary built from this checkout; it returns
// stdout, stderr and the exit code.
func (c *cluster) kubectlVault(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, repoBinary(t, "kubectl-vault"), append([]string{"--kubeconfig", c.kubeconfig, "-n", "vault"}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("kubectl vault %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// rootToken reads the root token from an init JSON file.
func rootToken(t *testing.T, initFile string) string {
	t.Helper()
	raw, err := os.ReadFile(initFile)
	require.NoError(t, err)
	var init struct {
		RootToken string `json:"root_token"`
	}
	require.NoError(t, json.Unmarshal(raw, &init))
	require.NotEmpty(t, init.RootToken)
	return init.RootToken
}

// vaultAsRoot runs a shell script in the active Vault pod with the root token read from
// stdin (first line), never from argv. The API server's exec can lose stdin
// (kubernetes/kubernetes#112834, as the plugin knows): when the token did not arrive the
// script has not started, and it runs again.
func (c *cluster) vaultAsRoot(t *testing.T, token, script string) (string, error) {
	t.Helper()
	pod := c.activeVaultPod(t)
	for attempt := 1; ; attempt++ {
		out, err := c.kubectl(t, token+"\n", "-n", "vault", "exec", "-i", pod, "-c", "vault", "--",
			"/bin/sh", "-ec", "read -r VAULT_TOKEN || exit "+stdinLostCode+"; export VAULT_TOKEN\n"+script)
		if err == nil || attempt == 5 || !strings.Contains(err.Error(), "exit code "+stdinLostCode) {
			return out, err
		}
		t.Logf("the token did not reach pod %s on stdin (attempt %d of 5): running the script again", pod, attempt)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond) // losses come in bursts
	}
}

// stdinLostCode is the exit code of an in-pod script whose stdin did not arrive.
const stdinLostCode = "86"

func (c *cluster) activeVaultPod(t *testing.T) string {
	t.Helper()
	var name string
	require.Eventually(t, func() bool {
		pods, err := c.client.CoreV1().Pods("vault").List(context.Background(), metav1.ListOptions{LabelSelector: "vault-active=true"})
		if err != nil || len(pods.Items) != 1 {
			return false
		}
		name = pods.Items[0].Name
		return true
	}, 60*time.Second, time.Second, "one pod labelled vault-active=true")
	return name
}

// statusReport is the part of `kubectl vault status -o json` the tests read.
type statusReport struct {
	Pods []struct {
		Pod   string `json:"pod"`
		Vault *struct {
			Initialized bool `json:"initialized"`
			Sealed      bool `json:"sealed"`
		} `json:"vault"`
	} `json:"pods"`
	Raft []struct {
		NodeID string `json:"node_id"`
		Leader bool   `json:"leader"`
		Voter  bool   `json:"voter"`
	} `json:"raftPeers"`
	Healthy bool `json:"healthy"`
}

// waitForVoters polls `kubectl vault status` until it exits 0 with three raft voters
// (autopilot promotes joiners once they are stable, about 10 s) and returns the report.
func (c *cluster) waitForVoters(t *testing.T, tokenFile string) statusReport {
	t.Helper()
	var report statusReport
	var stdout string
	require.Eventually(t, func() bool {
		var code int
		stdout, _, code = c.kubectlVault(t, "", "status", "-o", "json", "--vault-token-file", tokenFile)
		if code != 0 || json.Unmarshal([]byte(stdout), &report) != nil || len(report.Raft) != 3 {
			return false
		}
		for _, r := range report.Raft {
			if !r.Voter {
				return false
			}
		}
		return true
	}, 2*time.Minute, 2*time.Second, "kubectl vault status healthy with 3 raft voters: %s", stdout)
	return report
}

// TestKubectlVaultLifecycle: a fresh 3-pod raft Vault through the real `kubectl vault`:
// status (uninitialised) → init → unseal → status (1 active, 2 standby, 3 voters) → KV write →
// snapshot save → delete → snapshot restore → the secret is back.
func TestKubectlVaultLifecycle(t *testing.T) {
	c := getCluster(t)
	c.requireLevel2(t)
	c.freshVault(t)

	stdout, stderr, code := c.kubectlVault(t, "", "status")
	assert.Equal(t, 2, code, "status of an uninitialised Vault exits 2: %s %s", stdout, stderr)
	assert.Contains(t, stdout, "vault-2")

	dir := t.TempDir()
	initFile := filepath.Join(dir, "init.json")
	stdout, stderr, code = c.kubectlVault(t, "", "init", "--key-shares", "3", "--key-threshold", "2", "--keys-out", initFile)
	require.Equal(t, 0, code, "init: %s %s", stdout, stderr)
	st, err := os.Stat(initFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	root := rootToken(t, initFile)
	assert.NotContains(t, stdout+stderr, root, "the root token is not shown without --print-keys")

	// A second init is refused by the safety gate, and never touches the keys file.
	_, stderr, code = c.kubectlVault(t, "", "init", "--keys-out", filepath.Join(dir, "again.json"))
	assert.Equal(t, 3, code, stderr)

	stdout, stderr, code = c.kubectlVault(t, "", "unseal", "--keys-file", initFile)
	require.Equal(t, 0, code, "unseal: %s %s", stdout, stderr)
	raw, err := os.ReadFile(initFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(c.initFile(), raw, 0o600), "keep the keys for the other tests")

	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(root+"\n"), 0o600))
	report := c.waitForVoters(t, tokenFile)
	assert.True(t, report.Healthy)
	require.Len(t, report.Pods, 3)
	for _, p := range report.Pods {
		require.NotNil(t, p.Vault, p.Pod)
		assert.True(t, p.Vault.Initialized && !p.Vault.Sealed, "%s initialised and unsealed", p.Pod)
	}
	require.Len(t, report.Raft, 3, "three raft peers")
	leaders := 0
	for _, r := range report.Raft {
		assert.True(t, r.Voter, "raft peer %s is a voter", r.NodeID)
		if r.Leader {
			leaders++
		}
	}
	assert.Equal(t, 1, leaders)
	stdout, _, _ = c.kubectlVault(t, "", "status")
	assert.Equal(t, 1, strings.Count(stdout, "active"), stdout)
	assert.Equal(t, 2, strings.Count(stdout, "standby"), stdout)

	c.checkPortForward(t, root)

	_, err = c.vaultAsRoot(t, root, "vault secrets enable -path=secret kv-v2 >/dev/null\nvault kv put secret/lifecycle color=green >/dev/null")
	require.NoError(t, err)

	snap := filepath.Join(dir, "vault.snap")
	stdout, stderr, code = c.kubectlVault(t, "", "snapshot", "save", snap, "--vault-token-file", tokenFile)
	require.Equal(t, 0, code, "snapshot save: %s %s", stdout, stderr)
	st, err = os.Stat(snap)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Greater(t, st.Size(), int64(1000))
	_, err = os.Stat(snap + ".sha256")
	require.NoError(t, err)

	_, err = c.vaultAsRoot(t, root, "vault kv metadata delete secret/lifecycle")
	require.NoError(t, err)
	_, err = c.vaultAsRoot(t, root, "vault kv get secret/lifecycle")
	require.Error(t, err, "the secret is gone before the restore")

	stdout, stderr, code = c.kubectlVault(t, "", "snapshot", "restore", snap, "--yes", "--vault-token-file", tokenFile)
	require.Equal(t, 0, code, "snapshot restore: %s %s", stdout, stderr)
	require.Eventually(t, func() bool {
		out, err := c.vaultAsRoot(t, root, "vault kv get -field=color secret/lifecycle")
		return err == nil && strings.TrimSpace(out) == "green"
	}, 60*time.Second, 2*time.Second, "the secret is back after the restore")
}

// checkPortForward runs `kubectl vault port-forward` (to the active pod), reads the export
// line it prints, and checks Vault's health through it; after a step-down the forward moves
// to the new active pod.
func (c *cluster) checkPortForward(t *testing.T, root string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, repoBinary(t, "kubectl-vault"), "--kubeconfig", c.kubeconfig, "-n", "vault", "port-forward", "--interval", "1s")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { cancel(); _ = cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "export VAULT_ADDR="); ok {
				addr <- strings.Trim(v, `"'`)
			}
		}
	}()
	var base string
	select {
	case base = <-addr:
	case <-time.After(60 * time.Second):
		t.Fatalf("kubectl vault port-forward printed no VAULT_ADDR: %s", stderr.String())
	}
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	health := func() int {
		resp, err := http.Get(base + "/v1/sys/health")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// 200: initialised, unsealed, active (a standby answers 429).
	require.Eventually(t, func() bool { return health() == 200 }, 30*time.Second, 500*time.Millisecond, "health through the forward")

	before := c.activeVaultPod(t)
	_, err = c.vaultAsRoot(t, root, "vault operator step-down")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		pods, err := c.client.CoreV1().Pods("vault").List(context.Background(), metav1.ListOptions{LabelSelector: "vault-active=true"})
		return err == nil && len(pods.Items) == 1 && pods.Items[0].Name != before && health() == 200
	}, 60*time.Second, time.Second, "the forward follows the new active pod after a step-down (was %s): %s", before, stderr.String())
}
