package plugin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSnapshotSaveAndRestore(t *testing.T) {
	fc := healthy3()
	dir := t.TempDir()
	snap := filepath.Join(dir, "vault.snap")
	tok := writeTokenFile(t)

	out, errOut, code := run(t, fc, "", "snapshot", "save", snap, "--vault-token-file", tok)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, out)
	fi, err := os.Stat(snap)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, _ := os.ReadFile(snap)
	assert.True(t, strings.HasPrefix(string(b), "SNAPSHOT:vault-cluster-test:3:"))
	assert.Contains(t, string(b), ":cluster-A.")
	sum, err := os.ReadFile(snap + ".sha256")
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{64}  vault.snap\n$`, string(sum))
	assert.Contains(t, errOut, "Taking a snapshot on active pod vault-0")
	_, err = os.Stat(snap + ".partial")
	assert.True(t, os.IsNotExist(err))
	for p, v := range fc.vaults {
		for f := range v.Files {
			assert.NotContains(t, f, ".kubectl-vault-", "temporary file left in pod %s", p)
		}
	}
	// The token went on stdin through the constant script, the snapshot was taken on the active pod.
	var saveCall execCall
	for _, c := range fc.calls {
		if len(c.Argv) > 5 && c.Argv[5] == "raft" {
			saveCall = c
		}
	}
	require.Equal(t, "vault-0", saveCall.Pod)
	assert.Equal(t, []string{"sh", "-c", tokenScript, "vault", "operator", "raft", "snapshot", "save", "-format=json"}, saveCall.Argv[:9])
	assert.Equal(t, testToken+"\n", string(saveCall.Stdin))
	assertNoSecrets(t, fc, out+errOut)

	// Never overwrites.
	_, errOut, code = run(t, fc, "", "snapshot", "save", snap, "--vault-token-file", tok)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "exists: snapshots are never overwritten")

	// Restore, confirmed on stdin.
	fc.vaults["vault-0"].Data = "changed"
	fc.calls = nil
	_, errOut, code = run(t, fc, "y\n", "snapshot", "restore", snap, "--vault-token-file", tok)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "cluster-A", fc.vaults["vault-0"].Data)
	assert.Contains(t, errOut, "onto Vault cluster vault-cluster-test (id 11111111-2222-3333-4444-555555555555, version 1.21.1) through active pod vault-0")
	assert.Contains(t, errOut, "Raft peers: vault-0, vault-1, vault-2.")
	assert.Contains(t, errOut, "Restore? [y/N]")
	assertNoSecrets(t, fc, errOut)
	for _, f := range fc.vaults["vault-0"].Files {
		assert.NotContains(t, string(f), "SNAPSHOT", "temporary snapshot removed from the pod")
	}
}

func TestSnapshotSaveStdout(t *testing.T) {
	fc := healthy3()
	out, errOut, code := run(t, fc, "", "snapshot", "save", "-", "--vault-token-file", writeTokenFile(t))
	require.Equal(t, 0, code, errOut)
	assert.True(t, strings.HasPrefix(out, "SNAPSHOT:"))
	assert.Contains(t, errOut, "written to stdout")
}

func TestSnapshotSaveRefusals(t *testing.T) {
	tok := writeTokenFile(t)
	snap := func() string { return filepath.Join(t.TempDir(), "s.snap") }

	_, errOut, code := run(t, healthy3(), "", "snapshot", "save", snap())
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "snapshot save needs a Vault token: pass --vault-token-file")

	fc := healthy3()
	for _, v := range fc.vaults {
		v.Storage = "consul"
	}
	_, errOut, code = run(t, fc, "", "snapshot", "save", snap(), "--vault-token-file", tok)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, `snapshot save needs integrated (raft) storage, but pod vault-0 uses "consul" storage`)

	_, errOut, code = run(t, sealed3(), "", "snapshot", "save", snap(), "--vault-token-file", tok)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "needs an active Vault pod and there is none")

	bad := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(bad, []byte("hvs.wrong\n"), 0o600))
	p := snap()
	_, errOut, code = run(t, healthy3(), "", "snapshot", "save", p, "--vault-token-file", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "permission denied: the token needs sys/storage/raft/snapshot")
	_, err := os.Stat(p)
	assert.True(t, os.IsNotExist(err))
}

func saveSnapshot(t *testing.T, fc *fakeCluster) string {
	t.Helper()
	snap := filepath.Join(t.TempDir(), "vault.snap")
	_, errOut, code := run(t, fc, "", "snapshot", "save", snap, "--vault-token-file", writeTokenFile(t))
	require.Equal(t, 0, code, errOut)
	return snap
}

func TestSnapshotRestoreRefusals(t *testing.T) {
	tok := writeTokenFile(t)
	snap := saveSnapshot(t, healthy3())

	// Declined.
	fc := healthy3()
	_, errOut, code := run(t, fc, "n\n", "snapshot", "restore", snap, "--vault-token-file", tok)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "restore declined")
	for _, c := range fc.calls {
		assert.NotEqual(t, "restore", c.Argv[len(c.Argv)-2])
	}
	// EOF on stdin declines too.
	_, _, code = run(t, healthy3(), "", "snapshot", "restore", snap, "--vault-token-file", tok)
	assert.Equal(t, 3, code)

	// Checksum mismatch: refused before touching the cluster.
	damaged := filepath.Join(t.TempDir(), "d.snap")
	b, _ := os.ReadFile(snap)
	require.NoError(t, os.WriteFile(damaged, append(b, 'x'), 0o600))
	sum, _ := os.ReadFile(snap + ".sha256")
	require.NoError(t, os.WriteFile(damaged+".sha256", sum, 0o600))
	fc = healthy3()
	_, errOut, code = run(t, fc, "", "snapshot", "restore", damaged, "--yes", "--vault-token-file", tok)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "does not match "+damaged+".sha256")
	assert.Empty(t, fc.calls)

	// Missing checksum.
	require.NoError(t, os.Remove(damaged+".sha256"))
	_, errOut, code = run(t, healthy3(), "", "snapshot", "restore", damaged, "--yes", "--vault-token-file", tok)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "no "+damaged+".sha256 beside the snapshot: restore refused (--no-checksum overrides)")

	// Missing file.
	_, errOut, code = run(t, healthy3(), "", "snapshot", "restore", filepath.Join(t.TempDir(), "none"), "--yes", "--vault-token-file", tok)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no such file")
}

func TestSnapshotRestoreOtherCluster(t *testing.T) {
	tok := writeTokenFile(t)
	src := healthy3()
	for _, v := range src.vaults {
		v.Cluster, v.Data = "source", "source-data"
	}
	snap := saveSnapshot(t, src)

	fc := healthy3()
	_, errOut, code := run(t, fc, "", "snapshot", "restore", snap, "--yes", "--vault-token-file", tok)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "the snapshot belongs to another Vault cluster: restore refused (--force restores it")
	assert.Equal(t, "cluster-A", fc.vaults["vault-0"].Data)

	_, errOut, code = run(t, fc, "", "snapshot", "restore", snap, "--yes", "--force", "--vault-token-file", tok)
	assert.Equal(t, 2, code, errOut)
	assert.Equal(t, "source-data", fc.vaults["vault-0"].Data)
	assert.Contains(t, errOut, "pod vault-0 sealed itself after the restore")
	assert.Contains(t, errOut, "kubectl vault unseal --keys-file SOURCE_KEYS")
}

func TestRaftRecover(t *testing.T) {
	fc := sealed3()
	out, errOut, code := run(t, fc, "", "raft", "recover", "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, `[{"id":"node-0","address":"vault-0.vault-internal:8201","non_voter":false}]`+"\n", out)
	assert.Contains(t, errOut, "Plan: write /vault/data/raft/peers.json in pod vault-0")
	assert.NotContains(t, fc.vaults["vault-0"].Files, "/vault/data/raft/peers.json")

	_, _, code = run(t, fc, "no\n", "raft", "recover")
	assert.Equal(t, 3, code)

	_, errOut, code = run(t, fc, "", "raft", "recover", "1", "--yes", "--restart", "--headless-service", "vault-peers")
	require.Equal(t, 0, code, errOut)
	var written string
	for _, c := range fc.calls {
		if c.Pod == "vault-1" && len(c.Argv) == 4 && c.Argv[3] == "/vault/data/raft/peers.json" {
			written = string(c.Stdin)
		}
	}
	assert.JSONEq(t, `[{"id":"node-1","address":"vault-1.vault-peers:8201","non_voter":false}]`, written)
	assert.Equal(t, []string{"node-1"}, fc.peers, "the restarted pod read peers.json")
	assert.Equal(t, []string{"vault-1"}, fc.deleted)
	assert.Contains(t, errOut, "once it runs again: `kubectl vault unseal vault-1`")

	hc := healthy3()
	_, errOut, _ = run(t, hc, "", "raft", "recover", "--dry-run")
	assert.Contains(t, errOut, "pod vault-0 is active, so the cluster has quorum")

	delete(hc.vaults["vault-0"].Files, "/vault/data/node-id")
	_, errOut, code = run(t, hc, "", "raft", "recover", "--yes")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "read /vault/data/node-id in pod vault-0")
}

func TestSnapshotRestoreNeedsWritableTmp(t *testing.T) {
	snap := saveSnapshot(t, healthy3())
	fc := healthy3()
	fc.vaults["vault-0"].NoTmp = true
	_, errOut, code := run(t, fc, "", "snapshot", "restore", snap, "--yes", "--vault-token-file", writeTokenFile(t))
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "container vault of pod vault-0 has no writable /tmp, which a raft restore needs: mount an emptyDir at /tmp")
	for _, a := range fc.argvs() {
		assert.NotContains(t, a, "restore", "nothing was streamed or restored")
	}
}

// truncatingExec cuts the first upload's stdin and the first download's stdout in half, as
// an exec stream that ends early without an error does (kubernetes/kubernetes#124571).
type truncatingExec struct {
	Executor
	cutUpload, cutDownload bool
}

func (e *truncatingExec) Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if e.cutUpload && len(cmd) > 2 && cmd[0] == "sh" && strings.Contains(cmd[2], "cat >") {
		e.cutUpload = false
		b, _ := io.ReadAll(stdin)
		stdin = bytes.NewReader(b[:len(b)/2])
	}
	if e.cutDownload && len(cmd) == 2 && cmd[0] == "cat" {
		e.cutDownload = false
		var buf bytes.Buffer
		if err := e.Executor.Exec(ctx, pod, cmd, stdin, &buf, stderr); err != nil {
			return err
		}
		_, err := stdout.Write(buf.Bytes()[:buf.Len()/2])
		return err
	}
	return e.Executor.Exec(ctx, pod, cmd, stdin, stdout, stderr)
}

func TestSnapshotTransfersRetryDamagedStreams(t *testing.T) {
	fc := healthy3()
	cl := fc.cluster()
	te := &truncatingExec{Executor: cl.Exec, cutUpload: true, cutDownload: true}
	cl.Exec = te
	snap := filepath.Join(t.TempDir(), "vault.snap")
	tok := writeTokenFile(t)

	var out, errb strings.Builder
	_, errOut, code := runWith(t, cl, "", &out, &errb, "snapshot", "save", snap, "--vault-token-file", tok)
	require.Equal(t, 0, code, errOut)
	assert.False(t, te.cutDownload, "the first download was cut")
	assert.Contains(t, errOut, "damaged in transit from pod vault-0")
	assert.Contains(t, errOut, fmt.Sprintf("streaming it again (attempt 2 of %d)", transferAttempts))
	b, err := os.ReadFile(snap)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "SNAPSHOT:"), "the saved file is the whole snapshot")

	fc.vaults["vault-0"].Data = "changed"
	out.Reset()
	errb.Reset()
	_, errOut, code = runWith(t, cl, "", &out, &errb, "snapshot", "restore", snap, "--yes", "--vault-token-file", tok)
	require.Equal(t, 0, code, errOut)
	assert.False(t, te.cutUpload, "the first upload was cut")
	assert.Contains(t, errOut, "damaged in transit to pod vault-0")
	assert.Equal(t, "cluster-A", fc.vaults["vault-0"].Data, "the second, whole upload was restored")
}
