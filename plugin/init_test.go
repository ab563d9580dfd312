package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// uninit3 is a fresh 3-pod raft StatefulSet: vault-1 and vault-2 join vault-0 when unsealed.
func uninit3() *fakeCluster {
	return newFakeCluster(3, func(i int) *fakeVault {
		return &fakeVault{Sealed: true, Storage: "raft", Seal: "shamir", Version: "1.21.1", Cluster: "vault-cluster-test", Data: "empty",
			Active: i == 0, Joiner: i > 0, JoinPolls: 1, NoChallenge: 2}
	})
}

func countVaultCalls(fc *fakeCluster, sub string) int {
	n := 0
	for _, a := range fc.argvs() {
		if len(a) > 2 && a[1]+" "+a[2] == sub {
			n++
		}
	}
	return n
}

func TestInitKeysOut(t *testing.T) {
	fc := uninit3()
	keysOut := filepath.Join(t.TempDir(), "init.json")
	out, errOut, code := run(t, fc, "", "init", "--keys-out", keysOut, "--key-shares", "3", "--key-threshold", "2")
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, out, "keys are not printed without --print-keys")
	fi, err := os.Stat(keysOut)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(keysOut)
	require.NoError(t, err)
	var ij initJSON
	require.NoError(t, json.Unmarshal(b, &ij))
	assert.Equal(t, testKeys(3), ij.UnsealKeysB64)
	assert.Equal(t, testToken, ij.RootToken)
	assert.Contains(t, errOut, "Vault initialised through pod vault-0: 3 unseal key shares, threshold 2.")
	assert.Contains(t, errOut, "Next: `kubectl vault unseal --keys-file "+keysOut+"`")
	assert.Contains(t, fc.argvs(), []string{"vault", "operator", "init", "-format=json", "-key-shares=3", "-key-threshold=2"})
	assertNoSecrets(t, fc, out+errOut)
}

func TestInitRefusesExistingKeysOutBeforeInit(t *testing.T) {
	fc := uninit3()
	keysOut := filepath.Join(t.TempDir(), "init.json")
	require.NoError(t, os.WriteFile(keysOut, []byte("precious"), 0o600))
	_, errOut, code := run(t, fc, "", "init", "--keys-out", keysOut)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "exists: it is never overwritten")
	assert.Equal(t, 0, countVaultCalls(fc, "operator init"))
	b, _ := os.ReadFile(keysOut)
	assert.Equal(t, "precious", string(b))
}

func TestInitRefusesUnwritableKeysOut(t *testing.T) {
	fc := uninit3()
	_, errOut, code := run(t, fc, "", "init", "--keys-out", filepath.Join(t.TempDir(), "no", "such", "dir", "init.json"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "cannot be created, so init did not run")
	assert.Equal(t, 0, countVaultCalls(fc, "operator init"))
}

func TestInitRemovesKeysOutWhenInitFails(t *testing.T) {
	fc := uninit3()
	fc.vaults["vault-0"].NoSh = true
	keysOut := filepath.Join(t.TempDir(), "init.json")
	// make operator init fail: vault binary missing
	_, errOut, code := run(t, fc, "", "init", "--keys-out", keysOut, "--vault-bin", "nope")
	assert.NotEqual(t, 0, code, errOut)
	_, err := os.Stat(keysOut)
	assert.True(t, os.IsNotExist(err), "the empty keys file is removed")
}

func TestInitRefusesInitialised(t *testing.T) {
	fc := healthy3()
	keysOut := filepath.Join(t.TempDir(), "init.json")
	_, errOut, code := run(t, fc, "", "init", "--keys-out", keysOut)
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "vault is already initialised (pod vault-0): init refused")
	_, err := os.Stat(keysOut)
	assert.True(t, os.IsNotExist(err))
	assert.Equal(t, 0, countVaultCalls(fc, "operator init"))
}

func TestInitNeedsADestination(t *testing.T) {
	fc := uninit3()
	_, errOut, code := run(t, fc, "", "init")
	assert.Equal(t, 3, code)
	assert.Contains(t, errOut, "init needs a place for the keys")
	assert.Empty(t, fc.argvs())
}

func TestInitValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--key-shares", "3", "--key-threshold", "4"}, "--key-threshold (4) must be between 1 and --key-shares (3)"},
		{[]string{"--key-shares", "3", "--key-threshold", "1"}, "must be greater than 1"},
		{[]string{"--pgp-keys", "a,b"}, "--pgp-keys names 2 keys but --key-shares is 5"},
		{[]string{"--recovery-shares", "1", "--recovery-threshold", "2"}, "--recovery-threshold (2) must not exceed"},
	} {
		_, errOut, code := run(t, uninit3(), "", append([]string{"init", "--print-keys"}, tc.args...)...)
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, tc.err)
	}
}

func TestInitPrintKeysAndSecretAndUnseal(t *testing.T) {
	fc := uninit3()
	out, errOut, code := run(t, fc, "", "init", "--print-keys", "--keys-secret", "vault-init", "--unseal", "--key-shares", "3", "--key-threshold", "2", "--poll-interval", "10ms")
	require.Equal(t, 0, code, errOut)
	var ij initJSON
	require.NoError(t, json.Unmarshal([]byte(out), &ij), "stdout is Vault's init JSON")
	assert.Equal(t, testToken, ij.RootToken)
	assert.Contains(t, string(fc.secrets["vault-init"][InitSecretKey]), testToken)
	assert.Contains(t, errOut, "stored in Secret vault/vault-init")
	for p, v := range fc.vaults {
		assert.False(t, v.Sealed, p)
	}
	_, keys := unsealCalls(fc)
	assert.Equal(t, testKeys(2), keys["vault-1"])
	// keys only in stdout (asked for), never in argv or stderr
	assertNoSecrets(t, fc, errOut)
}

func TestInitSecretExists(t *testing.T) {
	fc := uninit3()
	fc.secrets["vault-init"] = map[string][]byte{"x": nil}
	keysOut := filepath.Join(t.TempDir(), "init.json")
	out, errOut, code := run(t, fc, "", "init", "--keys-secret", "vault-init", "--keys-out", keysOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "Warning: could not save the keys to --keys-secret vault-init")
	assert.Empty(t, out, "the file got the keys, so they are not printed")
	b, err := os.ReadFile(keysOut)
	require.NoError(t, err)
	assert.Contains(t, string(b), testToken)
}

func TestInitPrintsKeysWhenNothingSaved(t *testing.T) {
	fc := uninit3()
	fc.secrets["vault-init"] = map[string][]byte{"x": nil}
	out, errOut, code := run(t, fc, "", "init", "--keys-secret", "vault-init")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "the keys could not be saved anywhere; printing them")
	assert.Contains(t, out, testToken)
}

func TestInitPGPKeysCopiedIntoPod(t *testing.T) {
	fc := uninit3()
	dir := t.TempDir()
	var files []string
	for _, n := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, n+".pub")
		require.NoError(t, os.WriteFile(p, []byte("PUBKEY-"+n), 0o644))
		files = append(files, p)
	}
	_, errOut, code := run(t, fc, "", "init", "--print-keys", "--key-shares", "3", "--key-threshold", "2", "--pgp-keys", files[0]+","+files[1]+","+files[2])
	require.Equal(t, 0, code, errOut)
	var initArgv []string
	for _, a := range fc.argvs() {
		if len(a) > 2 && a[1] == "operator" {
			initArgv = a
		}
	}
	assert.Contains(t, initArgv, "-pgp-keys=/vault/data/.kubectl-vault-pgp-0.pgp,/vault/data/.kubectl-vault-pgp-1.pgp,/vault/data/.kubectl-vault-pgp-2.pgp")
	assert.Empty(t, fc.vaults["vault-0"].Files["/vault/data/.kubectl-vault-pgp-0.pgp"], "removed after init")
	assert.Contains(t, fc.argvs(), []string{"rm", "-f", "/vault/data/.kubectl-vault-pgp-2.pgp"})
}

func TestInitAutoUnsealRecoveryKeys(t *testing.T) {
	fc := uninit3()
	for _, v := range fc.vaults {
		v.Seal = "awskms"
	}
	keysOut := filepath.Join(t.TempDir(), "init.json")
	_, errOut, code := run(t, fc, "", "init", "--keys-out", keysOut, "--recovery-shares", "4", "--recovery-threshold", "2")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, fc.argvs(), []string{"vault", "operator", "init", "-format=json", "-recovery-shares=4", "-recovery-threshold=2"},
		"no -key-shares for an auto-unseal seal")
	assert.Contains(t, errOut, "4 recovery key shares, threshold 2.")
	assert.Contains(t, errOut, "The awskms seal unseals Vault by itself")

	_, errOut, code = run(t, uninit3(), "", "init", "--keys-secret", "vault-init")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "Next: `kubectl vault unseal --keys-secret vault-init`")
}
