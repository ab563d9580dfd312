package plugin

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name     string
		fc       func() *fakeCluster
		args     []string
		wantCode int
		golden   string
		warnings []string
	}{
		{name: "healthy", fc: healthy3, wantCode: 0, golden: "status-healthy.txt"},
		{name: "healthy wide with token", fc: healthy3, args: []string{"-o", "wide", "--vault-token-file", "TOKENFILE"}, golden: "status-wide-token.txt",
			warnings: []string{"raft peer vault-2 is not a voter yet"}},
		{name: "one sealed with progress", fc: func() *fakeCluster {
			fc := healthy3()
			fc.vaults["vault-2"].Sealed, fc.vaults["vault-2"].Progress = true, 1
			return fc
		}, wantCode: 2, golden: "status-one-sealed.txt",
			warnings: []string{"pod vault-2 is sealed: run `kubectl vault unseal`", "an unseal is in progress on vault-2 (1/3)"}},
		{name: "uninitialised", fc: func() *fakeCluster {
			return newFakeCluster(3, func(int) *fakeVault {
				return &fakeVault{Sealed: true, Storage: "raft", Seal: "shamir", Version: "1.21.1"}
			})
		}, wantCode: 2, golden: "status-uninitialised.txt", warnings: []string{"Vault is not initialised: run `kubectl vault init --keys-out FILE`"}},
		{name: "pod pending and container missing", fc: func() *fakeCluster {
			fc := healthy3()
			fc.pods[1].Status.Phase = corev1.PodPending
			fc.pods[1].Status.Conditions = nil
			fc.pods[2].Spec.Containers[0].Name = "other"
			return fc
		}, wantCode: 2, golden: "status-broken-pods.txt", warnings: []string{"pod vault-1: pod is pending", `pod vault-2: no container "vault" (use --container)`}},
		{name: "single pod by ordinal", fc: healthy3, args: []string{"1"}, golden: "status-one-pod.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := tc.fc()
			args := append([]string{"status"}, tc.args...)
			for i, a := range args {
				if a == "TOKENFILE" {
					args[i] = writeTokenFile(t)
				}
			}
			out, errOut, code := run(t, fc, "", args...)
			assert.Equal(t, tc.wantCode, code, errOut)
			golden(t, tc.golden, out)
			for _, w := range tc.warnings {
				assert.Contains(t, errOut, w)
			}
			assertNoSecrets(t, fc, out+errOut)
		})
	}
}

func TestStatusJSON(t *testing.T) {
	fc := healthy3()
	fc.vaults["vault-1"].Sealed = true
	out, _, code := run(t, fc, "", "status", "-o", "json")
	assert.Equal(t, 2, code)
	var st ClusterStatus
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Len(t, st.Pods, 3)
	assert.False(t, st.Healthy)
	assert.Equal(t, "vault-0", st.Pods[0].Pod)
	assert.Equal(t, "active", st.Pods[0].Vault.HARole())
	assert.True(t, st.Pods[1].Vault.Sealed)
	assert.Equal(t, 3, st.Pods[1].Vault.T)

	out, _, _ = run(t, healthy3(), "", "status", "-o", "yaml")
	assert.Contains(t, out, "healthy: true")
}

func TestStatusQueriesInParallelWithoutToken(t *testing.T) {
	fc := healthy3()
	_, _, code := run(t, fc, "", "status")
	require.Equal(t, 0, code)
	for _, argv := range fc.argvs() {
		assert.Equal(t, []string{"vault", "status", "-format=json"}, argv)
	}
	assert.Len(t, fc.argvs(), 3)
}

func TestStatusTLSFlagsAndBinary(t *testing.T) {
	fc := healthy3()
	_, errOut, _ := run(t, fc, "", "status", "--vault-bin", "bao", "--vault-ca-cert", "/vault/tls/ca.crt", "--vault-tls-server-name", "vault.vault.svc", "--vault-skip-verify", "0")
	assert.Contains(t, errOut, "Warning: --vault-skip-verify")
	assert.Equal(t, []string{"bao", "status", "-format=json", "-ca-cert=/vault/tls/ca.crt", "-tls-server-name=vault.vault.svc", "-tls-skip-verify"}, fc.argvs()[0])
}

func TestStatusErrors(t *testing.T) {
	_, errOut, code := run(t, healthy3(), "", "status", "vault-9")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `pod "vault-9": pod not found; Vault server pods are vault-0, vault-1, vault-2`)

	_, errOut, code = run(t, newFakeCluster(0, nil), "", "status")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no pods match selector")

	_, errOut, code = run(t, healthy3(), "", "status", "-o", "xml")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--output must be one of")

	_, errOut, code = run(t, healthy3(), "", "status", "--color", "pink")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "--color must be auto, always or never")

	fc := healthy3()
	fc.vaults["vault-0"].NoSh = true
	for _, v := range fc.vaults {
		v.Version = "x"
	}
	out, _, code := run(t, fc, "", "status", "--vault-bin", "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "error")
}

func TestStatusColor(t *testing.T) {
	fc := healthy3()
	fc.vaults["vault-2"].Sealed = true
	out, _, _ := run(t, fc, "", "status", "--color", "always")
	assert.Contains(t, out, "\x1b[31mtrue\x1b[0m")
	assert.Contains(t, out, "\x1b[32mactive\x1b[0m")
	out, _, _ = run(t, fc, "", "status", "--color", "never")
	assert.NotContains(t, out, "\x1b[")
	t.Setenv("NO_COLOR", "1")
	out, _, _ = run(t, fc, "", "status", "--color", "auto")
	assert.NotContains(t, out, "\x1b[")
}

func BenchmarkStatus3Pods(b *testing.B) {
	fc := healthy3()
	for b.Loop() {
		_, _, code := run(b, fc, "", "status")
		if code != 0 {
			b.Fatal(code)
		}
		fc.calls = nil
	}
}

// latencyExec adds a fixed round-trip time to every exec, as the API server and kubelet do.
type latencyExec struct {
	Executor
	d time.Duration
}

func (l latencyExec) Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	time.Sleep(l.d)
	return l.Executor.Exec(ctx, pod, cmd, stdin, stdout, stderr)
}

// BenchmarkStatusParallelVsSequential compares `kubectl vault status` on 3 pods with three
// sequential `vault status` execs, each exec costing 20ms of round trip.
func BenchmarkStatusParallelVsSequential(b *testing.B) {
	fc := healthy3()
	cl := fc.cluster()
	cl.Exec = latencyExec{Executor: fc, d: 20 * time.Millisecond}
	b.Run("kubectl-vault-status", func(b *testing.B) {
		for b.Loop() {
			var out, errb strings.Builder
			if _, _, code := runWith(b, cl, "", &out, &errb, "status"); code != 0 {
				b.Fatal(errb.String())
			}
		}
	})
	b.Run("3-sequential-execs", func(b *testing.B) {
		for b.Loop() {
			for _, p := range []string{"vault-0", "vault-1", "vault-2"} {
				var out strings.Builder
				if err := cl.Exec.Exec(context.Background(), p, []string{"vault", "status", "-format=json"}, nil, &out, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
