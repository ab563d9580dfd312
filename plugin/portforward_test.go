package plugin

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPortForwardFollowsFailover(t *testing.T) {
	fc := healthy3()
	fc.fwdCh = make(chan string, 10)
	var out, errb syncBuffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb}
	root, _ := newRoot(streams, func(*Globals) (*Cluster, error) { return fc.cluster(), nil })
	root.SetArgs([]string{"port-forward", "active", "18200", "--interval", "20ms"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	require.Equal(t, "vault-0", <-fc.fwdCh)
	fc.mu.Lock()
	fc.vaults["vault-0"].Active = false
	fc.vaults["vault-2"].Active = true
	fc.mu.Unlock()
	select {
	case p := <-fc.fwdCh:
		assert.Equal(t, "vault-2", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the forward did not move to the new active pod")
	}
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, "export VAULT_ADDR=http://127.0.0.1:18200\n", out.String(), "exports printed once")
	assert.Contains(t, errb.String(), "The active pod is now vault-2 (was vault-0): moving the forward.")
}

func TestPortForwardTargets(t *testing.T) {
	fc := healthy3()
	g := &Globals{Container: "vault", VaultBin: "vault", ExecTimeout: 5 * time.Second, Color: "never", cluster: fc.cluster()}
	for target, want := range map[string]string{"active": "vault-0", "standby": "vault-1", "2": "vault-2", "vault-1": "vault-1"} {
		o := &PortForwardOptions{g: g, Target: target, cluster: fc.cluster()}
		p, scheme, err := o.pick(context.Background())
		require.NoError(t, err, target)
		assert.Equal(t, want, p, target)
		assert.Equal(t, "http", scheme)
	}
	fc.pods[0].Spec.Containers[0].Env[0].Value = "https://127.0.0.1:8200"
	o := &PortForwardOptions{g: g, Target: "active", cluster: fc.cluster()}
	_, scheme, err := o.pick(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "https", scheme)

	_, errOut, code := run(t, sealed3(), "", "port-forward")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "no active Vault pod")
	_, errOut, code = run(t, healthy3(), "", "port-forward", "active", "99999")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `LOCAL_PORT "99999" is not a port number`)
}
