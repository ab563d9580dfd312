package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeKeysFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func initJSONFor(keys []string) string {
	return `{"unseal_keys_b64":["` + strings.Join(keys, `","`) + `"],"unseal_threshold":3,"root_token":"` + testToken + `"}`
}

// unsealCalls returns, per pod, the keys sent through sys/unseal (from stdin).
func unsealCalls(fc *fakeCluster) (order []string, keys map[string][]string) {
	keys = map[string][]string{}
	for _, c := range fc.calls {
		var req unsealRequest
		if len(c.Argv) >= 4 && c.Argv[1] == "write" && json.Unmarshal(c.Stdin, &req) == nil && req.Key != "" {
			if len(keys[c.Pod]) == 0 {
				order = append(order, c.Pod)
			}
			k := req.Key
			if n := len(keys[c.Pod]); n > 0 && keys[c.Pod][n-1] == k {
				continue // the same key offered again while a joiner waits for raft
			}
			keys[c.Pod] = append(keys[c.Pod], k)
		}
	}
	return order, keys
}

func TestUnsealAllSealedStopsAtThreshold(t *testing.T) {
	fc := sealed3()
	kf := writeKeysFile(t, initJSONFor(testKeys(5)), 0o600)
	out, errOut, code := run(t, fc, "", "unseal", "--keys-file", kf)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, out)
	order, keys := unsealCalls(fc)
	assert.Equal(t, []string{"vault-0", "vault-1", "vault-2"}, order)
	for _, p := range order {
		assert.Equal(t, testKeys(3), keys[p], "pod %s gets exactly the threshold", p)
		assert.False(t, fc.vaults[p].Sealed)
	}
	assert.Contains(t, errOut, "vault-0: key accepted (1/3)")
	assert.Contains(t, errOut, "vault-2: unsealed")
	assert.NotContains(t, errOut, "Warning")
	assertNoSecrets(t, fc, out+errOut)
	for _, argv := range fc.argvs() {
		if argv[1] == "write" {
			assert.Equal(t, []string{"vault", "write", "-format=json", "sys/unseal", "-"}, argv)
		}
	}
}

func TestUnsealSkipsUnsealedAndNamedPods(t *testing.T) {
	fc := healthy3()
	fc.vaults["vault-1"].Sealed = true
	kf := writeKeysFile(t, strings.Join(testKeys(3), "\n")+"\n", 0o600)
	_, errOut, code := run(t, fc, "", "unseal", "--keys-file", kf)
	require.Equal(t, 0, code, errOut)
	order, _ := unsealCalls(fc)
	assert.Equal(t, []string{"vault-1"}, order)

	fc = sealed3()
	_, errOut, code = run(t, fc, "", "unseal", "2", "--keys-file", kf)
	require.Equal(t, 0, code, errOut)
	order, _ = unsealCalls(fc)
	assert.Equal(t, []string{"vault-2"}, order)
	assert.True(t, fc.vaults["vault-0"].Sealed)

	_, errOut, code = run(t, healthy3(), "", "unseal", "--keys-file", kf)
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "nothing to do")
}

func TestUnsealKeysFromStdinAndSecret(t *testing.T) {
	fc := sealed3()
	_, errOut, code := run(t, fc, "# keys\n\n"+strings.Join(testKeys(4), "\n"), "unseal", "--keys-file", "-")
	require.Equal(t, 0, code, errOut)
	for _, v := range fc.vaults {
		assert.False(t, v.Sealed)
	}

	fc = sealed3()
	fc.secrets["vault-init"] = map[string][]byte{InitSecretKey: []byte(initJSONFor(testKeys(5)))}
	_, errOut, code = run(t, fc, "", "unseal", "--keys-secret", "vault-init")
	require.Equal(t, 0, code, errOut)
	assert.False(t, fc.vaults["vault-2"].Sealed)

	_, errOut, code = run(t, sealed3(), "", "unseal", "--keys-secret", "missing")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "read --keys-secret missing")
}

func TestUnsealPromptAskedOnce(t *testing.T) {
	fc := sealed3()
	var out, errb strings.Builder
	g := &Globals{VaultBin: "vault", Container: "vault", Color: "never", ExecTimeout: 5e9, cluster: fc.cluster()}
	asked := 0
	keys := testKeys(3)
	o := &UnsealOptions{g: g, Wait: 1e9, readPassword: func() (string, error) { asked++; return keys[asked-1] + "\n", nil }}
	o.Out, o.ErrOut = &out, &errb
	require.NoError(t, o.Complete(nil, nil))
	require.NoError(t, o.Validate())
	require.NoError(t, o.Run(t.Context()))
	assert.Equal(t, 3, asked, "keys are asked once (threshold) and reused for all pods")
	assert.Contains(t, errb.String(), "Unseal key 1 of 3 (not echoed)")
	for _, v := range fc.vaults {
		assert.False(t, v.Sealed)
	}
	assertNoSecrets(t, fc, out.String()+errb.String())
}

func TestUnsealPromptRefusesNonTerminal(t *testing.T) {
	_, errOut, code := run(t, sealed3(), "", "unseal")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no unseal keys: pass --keys-file")
}

func TestUnsealWrongClusterKeys(t *testing.T) {
	fc := sealed3()
	other := []string{testKey(20), testKey(21), testKey(22)}
	kf := writeKeysFile(t, strings.Join(other, "\n"), 0o600)
	out, errOut, code := run(t, fc, "", "unseal", "--keys-file", kf)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "pod vault-0 rejected the unseal keys: unseal key does not belong to this Vault (check that --keys-file is this cluster's)")
	order, _ := unsealCalls(fc)
	assert.Equal(t, []string{"vault-0"}, order, "stops at the first pod")
	assertNoSecrets(t, fc, out+errOut)
	for _, k := range other {
		assert.NotContains(t, out+errOut, k)
	}
}

func TestUnsealTooFewKeys(t *testing.T) {
	fc := sealed3()
	kf := writeKeysFile(t, strings.Join(testKeys(2), "\n"), 0o600)
	_, errOut, code := run(t, fc, "", "unseal", "--keys-file", kf)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "pod vault-0 needs 3 more unseal keys (threshold 3) but 2 were given")
	order, _ := unsealCalls(fc)
	assert.Empty(t, order, "no key is sent when there are too few")
}

func TestUnsealWarnsOnReadableKeyFile(t *testing.T) {
	kf := writeKeysFile(t, strings.Join(testKeys(3), "\n"), 0o644)
	_, errOut, code := run(t, sealed3(), "", "unseal", "--keys-file", kf)
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "is readable by group or others (mode 0644): chmod 600")
}

func TestUnsealInProgress(t *testing.T) {
	kf := writeKeysFile(t, strings.Join(testKeys(5), "\n"), 0o600)

	// Someone else gave key 0: we continue, skipping the key already given.
	fc := sealed3()
	fc.vaults["vault-0"].Progress = 1
	fc.vaults["vault-0"].given = map[string]bool{testKey(0): true}
	_, errOut, code := run(t, fc, "", "unseal", "0", "--keys-file", kf)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "continuing an unseal in progress (1/3); --reset discards it")
	assert.False(t, fc.vaults["vault-0"].Sealed)
	for _, c := range fc.calls {
		assert.NotContains(t, string(c.Stdin), `"reset"`)
	}

	// --reset discards it first.
	fc = sealed3()
	fc.vaults["vault-0"].Progress = 2
	fc.vaults["vault-0"].given = map[string]bool{testKey(9): true, testKey(8): true}
	_, errOut, code = run(t, fc, "", "unseal", "0", "--reset", "--keys-file", kf)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "discarding the unseal in progress (2/3)")
	assert.False(t, fc.vaults["vault-0"].Sealed)
}

func TestUnsealMigrate(t *testing.T) {
	fc := sealed3()
	kf := writeKeysFile(t, strings.Join(testKeys(3), "\n"), 0o600)
	_, errOut, code := run(t, fc, "", "unseal", "0", "--migrate", "--keys-file", kf)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, []string{"vault", "write", "-format=json", "sys/unseal", "-"}, fc.argvs()[3])
	assert.JSONEq(t, `{"key":"`+testKey(0)+`","migrate":true}`, string(fc.calls[3].Stdin))
}

func TestUnsealRaftJoinerPollsStatus(t *testing.T) {
	fc := sealed3()
	fc.vaults["vault-0"].Sealed = false
	fc.vaults["vault-0"].Active = true
	for _, p := range []string{"vault-1", "vault-2"} {
		v := fc.vaults[p]
		v.Initialized, v.Joiner, v.JoinPolls = false, true, 2
	}
	kf := writeKeysFile(t, strings.Join(testKeys(3), "\n"), 0o600)
	_, errOut, code := run(t, fc, "", "unseal", "--keys-file", kf, "--wait", "5s", "--poll-interval", "20ms")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "vault-1: all keys given, waiting for it to join and unseal")
	assert.Contains(t, errOut, "vault-2: unsealed")
	assert.False(t, fc.vaults["vault-2"].Sealed)
}

func TestUnsealJoinerNeverUnseals(t *testing.T) {
	fc := sealed3()
	fc.vaults["vault-0"].Sealed, fc.vaults["vault-0"].Active = false, true
	v := fc.vaults["vault-1"]
	v.Initialized, v.Joiner, v.JoinPolls = false, true, 1000
	kf := writeKeysFile(t, strings.Join(testKeys(3), "\n"), 0o600)
	_, errOut, code := run(t, fc, "", "unseal", "1", "--keys-file", kf, "--wait", "300ms", "--poll-interval", "20ms")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "pod vault-1 is still sealed 300ms after its last key")
}

func TestUnsealUninitialised(t *testing.T) {
	fc := newFakeCluster(3, func(int) *fakeVault { return &fakeVault{Sealed: true, Storage: "raft", Seal: "shamir"} })
	kf := writeKeysFile(t, strings.Join(testKeys(3), "\n"), 0o600)
	_, errOut, code := run(t, fc, "", "unseal", "--keys-file", kf)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "vault is not initialised: run `kubectl vault init --keys-out FILE` first")
}

func TestParseKeys(t *testing.T) {
	k := testKeys(3)
	hexKey := strings.Repeat("ab", 33)
	tests := []struct {
		name, in  string
		want      []string
		threshold int
		err       string
	}{
		{name: "init json", in: initJSONFor(k), want: k, threshold: 3},
		{name: "api json", in: `{"keys_base64":["` + k[0] + `"]}`, want: k[:1]},
		{name: "lines", in: "\n# c\n" + k[0] + "\n  " + k[1] + "  \n", want: k[:2]},
		{name: "hex", in: hexKey, want: []string{hexKey}},
		{name: "dedupe", in: k[0] + "\n" + k[0], want: k[:1]},
		{name: "empty", in: " \n", err: "holds no unseal keys"},
		{name: "comments only", in: "# x\n", err: "holds no unseal keys"},
		{name: "bad line", in: k[0] + "\nnot-a-key\n", err: "line 2 is not a base64 or hex unseal key"},
		{name: "short", in: "AAAA", err: "line 1"},
		{name: "json without keys", in: `{"root_token":"x"}`, err: "neither unseal_keys_b64 nor keys_base64"},
		{name: "broken json", in: `{"unseal_keys_b64": [SECRET`, err: "syntax error at byte"},
		{name: "bad json key", in: `{"unseal_keys_b64":["SECRETSECRET"]}`, err: "unseal key 1 is not base64 or hex"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseKeys([]byte(tc.in), "src")
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				assert.NotContains(t, err.Error(), "SECRET")
				assert.NotContains(t, err.Error(), k[0])
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.Keys)
			assert.Equal(t, tc.threshold, got.Threshold)
		})
	}
}

func FuzzParseKeys(f *testing.F) {
	f.Add([]byte(initJSONFor(testKeys(3))))
	f.Add([]byte(strings.Join(testKeys(2), "\n")))
	f.Add([]byte("{"))
	f.Add([]byte("# x\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseKeys(data, "fuzz")
		if err != nil {
			return
		}
		require.NotEmpty(t, got.Keys)
		for _, k := range got.Keys {
			require.True(t, validKey(k))
		}
	})
}

func TestUnsealContinuesPastAStuckJoinerAndReportsUnreachablePods(t *testing.T) {
	fc := sealed3()
	fc.vaults["vault-0"].Sealed, fc.vaults["vault-0"].Active = false, true
	v := fc.vaults["vault-1"]
	v.Initialized, v.Joiner, v.JoinPolls = false, true, 1000
	fc.pods[2].Spec.Containers[0].Name = "other" // vault-2 cannot be reached
	kf := writeKeysFile(t, strings.Join(testKeys(3), "\n"), 0o600)
	_, errOut, code := run(t, fc, "", "unseal", "--keys-file", kf, "--wait", "200ms", "--poll-interval", "20ms")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "Warning: pod vault-1 is still sealed 200ms after its last key")
	assert.Contains(t, errOut, `Warning: pod vault-2 was not unsealed: no container "vault" (use --container)`)
	assert.Contains(t, errOut, "pods vault-1, vault-2 are still sealed")
}
