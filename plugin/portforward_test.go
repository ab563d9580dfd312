package plugin

import (
	"bytes"
	"context"
	"fmt"
	corev1 "k8s.io/api/core/v1"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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

// failingForwarder fails at once, as a port already in use does.
type failingForwarder struct{}

func (failingForwarder) Forward(context.Context, string, int, int, func()) error {
	return fmt.Errorf("unable to listen on port 18200: address already in use")
}

func TestPortForwardFailsWhenItNeverListens(t *testing.T) {
	fc := healthy3()
	cl := fc.cluster()
	cl.Forwarder = failingForwarder{}
	var out, errb strings.Builder
	_, errOut, code := runWith(t, cl, "", &out, &errb, "port-forward", "active", "18200")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "port-forward to pod vault-0: unable to listen on port 18200: address already in use")
	assert.Empty(t, out.String(), "no export line for a forward that never worked")
}

// flakyForwarder loses its first connection after becoming ready, then behaves.
type flakyForwarder struct {
	fc    *fakeCluster
	calls atomic.Int32
}

func (f *flakyForwarder) Forward(ctx context.Context, pod string, l, r int, ready func()) error {
	if f.calls.Add(1) == 1 {
		ready()
		return fmt.Errorf("lost connection to pod")
	}
	return f.fc.Forward(ctx, pod, l, r, ready)
}

func TestPortForwardReconnectsAfterLoss(t *testing.T) {
	fc := healthy3()
	fc.fwdCh = make(chan string, 10)
	cl := fc.cluster()
	ff := &flakyForwarder{fc: fc}
	cl.Forwarder = ff
	var out, errb syncBuffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb}
	root, _ := newRoot(streams, func(*Globals) (*Cluster, error) { return cl, nil })
	root.SetArgs([]string{"port-forward", "1", "18201", "--interval", "10ms"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	select {
	case p := <-fc.fwdCh:
		assert.Equal(t, "vault-1", p)
	case <-time.After(5 * time.Second):
		t.Fatal("no reconnection")
	}
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, int32(2), ff.calls.Load())
	assert.Contains(t, errb.String(), "Lost the forward to vault-1: lost connection to pod; reconnecting.")
	assert.Equal(t, "export VAULT_ADDR=http://127.0.0.1:18201\n", out.String())
}

func TestPortForwardTLSExports(t *testing.T) {
	fc := healthy3()
	fc.fwdCh = make(chan string, 10)
	for i := range fc.pods {
		fc.pods[i].Spec.Containers[0].Env = []corev1.EnvVar{
			{Name: "VAULT_ADDR", Value: "https://vault.vault.svc:8200"},
			{Name: "VAULT_CACERT", Value: "/vault/userconfig/tls/ca.crt"},
		}
	}
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	fc.vaults["vault-0"].Files["/vault/userconfig/tls/ca.crt"] = []byte(ca)
	var out, errb syncBuffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb}
	root, _ := newRoot(streams, func(*Globals) (*Cluster, error) { return fc.cluster(), nil })
	root.SetArgs([]string{"port-forward", "active", "18202"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	<-fc.fwdCh
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "VAULT_CACERT") }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Equal(t, "export VAULT_ADDR=https://127.0.0.1:18202", lines[0])
	assert.Equal(t, "export VAULT_TLS_SERVER_NAME=vault.vault.svc", lines[1])
	caFile := strings.TrimPrefix(lines[2], "export VAULT_CACERT=")
	t.Cleanup(func() { os.Remove(caFile) })
	b, err := os.ReadFile(caFile)
	require.NoError(t, err)
	assert.Equal(t, ca, string(b))
}
