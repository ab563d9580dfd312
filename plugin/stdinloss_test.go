package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The retries of lost transfers do not wait in tests.
func init() { retryPause = time.Millisecond }

// lossyPod is a pod whose exec loses the stdin of the first `lose` calls that have one, as
// the API server's exec sometimes does (kubernetes/kubernetes#112834). It runs the file
// writes and sha256sum of writeInPod, the token script and `vault write sys/unseal -`.
type lossyPod struct {
	mu    sync.Mutex
	lose  int
	files map[string][]byte
	calls int
	vault []string // stdin of each Vault CLI call that got one
}

func (p *lossyPod) Exec(_ context.Context, _ string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
		if p.lose > 0 {
			p.lose--
			in = nil
		}
	}
	last := cmd[len(cmd)-1]
	switch {
	case cmd[0] == "sh" && cmd[2] == `umask 077 && cat > "$0"`:
		p.files[last] = in
	case cmd[0] == "sha256sum":
		fmt.Fprintf(stdout, "%x  %s\n", sha256.Sum256(p.files[last]), last)
	case cmd[0] == "sh" && cmd[2] == tokenScript:
		if len(in) == 0 {
			fmt.Fprintln(stderr, noTokenMessage)
			return fakeExitError{1}
		}
		p.vault = append(p.vault, string(in))
		fmt.Fprintln(stdout, "{}")
	case cmd[0] == "vault" && len(in) == 0:
		fmt.Fprintln(stderr, `Failed to parse K=V data: invalid key/value pair "-": EOF`)
		return fakeExitError{1}
	case cmd[0] == "vault":
		p.vault = append(p.vault, string(in))
		fmt.Fprintln(stdout, `{"sealed":false}`)
	default:
		return fmt.Errorf("unexpected command %q", cmd)
	}
	return nil
}

// TestWriteInPodStreamsAgainWhenStdinIsLost: a peers.json whose stream arrived empty is
// written again, with a warning, and never left empty; after transferAttempts losses the
// write fails and says why.
func TestWriteInPodStreamsAgainWhenStdinIsLost(t *testing.T) {
	data := []byte(`[{"id":"a","address":"vault-0.vault-internal:8201","non_voter":false}]`)
	p := &lossyPod{lose: 2, files: map[string][]byte{}}
	var warn bytes.Buffer
	require.NoError(t, writeInPod(context.Background(), p, "vault-0", "/vault/data/raft/peers.json", data, &warn))
	assert.Equal(t, data, p.files["/vault/data/raft/peers.json"])
	assert.Equal(t, 2, strings.Count(warn.String(), "peers.json was damaged in transit to pod vault-0"), warn.String())

	p = &lossyPod{lose: transferAttempts, files: map[string][]byte{}}
	warn.Reset()
	err := writeInPod(context.Background(), p, "vault-0", "/vault/data/raft/peers.json", data, &warn)
	require.ErrorContains(t, err, "peers.json was damaged in transit to pod vault-0")
	assert.Equal(t, 2*transferAttempts, p.calls, "a write and a check per attempt")
}

// TestVaultCallRunsAgainWhenStdinIsLost: a token or an unseal key that did not reach the
// pod (the CLI failed before it sent anything) is sent again; other failures are not.
func TestVaultCallRunsAgainWhenStdinIsLost(t *testing.T) {
	g := &Globals{VaultBin: "vault"}
	ctx := context.Background()

	p := &lossyPod{lose: 1, files: map[string][]byte{}}
	v := &vaultCLI{exec: p, g: g}
	res, err := v.run(ctx, "vault-0", vaultCall{Sub: []string{"read"}, Args: []string{"sys/health"}, Token: testToken})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Code)
	assert.Equal(t, []string{testToken + "\n"}, p.vault)

	p = &lossyPod{lose: 2, files: map[string][]byte{}}
	v = &vaultCLI{exec: p, g: g}
	res, err = v.run(ctx, "vault-0", vaultCall{Sub: []string{"write"}, Args: []string{"sys/unseal", "-"}, Stdin: []byte(`{"key":"k1"}`)})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Code)
	assert.Equal(t, []string{`{"key":"k1"}`}, p.vault, "the key reached Vault once")

	p = &lossyPod{lose: transferAttempts, files: map[string][]byte{}}
	v = &vaultCLI{exec: p, g: g}
	res, err = v.run(ctx, "vault-0", vaultCall{Sub: []string{"read"}, Args: []string{"sys/health"}, Token: testToken})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Code)
	assert.Contains(t, string(res.Stderr), noTokenMessage)
	assert.Equal(t, transferAttempts, p.calls)

	// a call without stdin that fails is not repeated
	p = &lossyPod{files: map[string][]byte{}}
	v = &vaultCLI{exec: p, g: g}
	res, err = v.run(ctx, "vault-0", vaultCall{Sub: []string{"write"}, Args: []string{"sys/unseal", "-"}})
	require.NoError(t, err)
	assert.Equal(t, 1, res.Code)
	assert.Equal(t, 1, p.calls)
}
