package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecretsStayOutOfArgvAndOutput runs every command that handles keys or tokens against the
// simulated Vault and checks that no key or token appears in any exec argv, on stdout or on
// stderr; and that they do reach Vault (on stdin) and appear on stdout with --print-keys only.
func TestSecretsStayOutOfArgvAndOutput(t *testing.T) {
	fc := uninit3()
	dir := t.TempDir()
	keysOut := filepath.Join(dir, "init.json")
	var all strings.Builder
	step := func(stdin string, wantCode int, args ...string) {
		t.Helper()
		out, errOut, code := run(t, fc, stdin, append(args, "--poll-interval", "10ms")...)
		require.Equal(t, wantCode, code, "%v: %s", args, errOut)
		all.WriteString(out + errOut)
	}
	step("", 0, "init", "--keys-out", keysOut, "--key-shares", "5", "--key-threshold", "3", "--unseal")
	tok := writeTokenFile(t)
	for _, v := range fc.vaults {
		v.Sealed = true
		v.Active = v == fc.vaults["vault-0"]
	}
	step("", 0, "unseal", "--keys-file", keysOut)
	b, err := os.ReadFile(keysOut)
	require.NoError(t, err)
	step(string(b), 0, "unseal", "--keys-file", "-") // nothing sealed: no keys needed
	out, errOut, code := run(t, fc, "", "status", "-o", "wide", "--vault-token-file", tok)
	require.Equal(t, 0, code, errOut)
	all.WriteString(out + errOut)
	snap := filepath.Join(dir, "s.snap")
	out, errOut, code = run(t, fc, "", "snapshot", "save", snap, "--vault-token-file", tok)
	require.Equal(t, 0, code, errOut)
	all.WriteString(out + errOut)
	out, errOut, code = run(t, fc, "", "snapshot", "restore", snap, "--yes", "--vault-token-file", tok)
	require.Equal(t, 0, code, errOut)
	all.WriteString(out + errOut)

	assertNoSecrets(t, fc, all.String())

	// The secrets did travel, on stdin.
	var keysOnStdin, tokenOnStdin int
	for _, c := range fc.calls {
		for _, k := range testKeys(5) {
			if string(c.Stdin) == `{"key":"`+k+`"}` {
				keysOnStdin++
			}
		}
		if strings.HasPrefix(string(c.Stdin), testToken+"\n") {
			tokenOnStdin++
		}
	}
	assert.GreaterOrEqual(t, keysOnStdin, 18, "3 keys for each of 3 pods, twice")
	assert.GreaterOrEqual(t, tokenOnStdin, 4)

	// --print-keys is the one way to see them.
	fc2 := uninit3()
	out, _, code = run(t, fc2, "", "init", "--print-keys")
	require.Equal(t, 0, code)
	assert.Contains(t, out, testKey(0))
	assert.Contains(t, out, testToken)
}
