//go:build nokube

package webhook

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInClusterVersionWithoutClientGo(t *testing.T) {
	var auth string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("sa-token"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	old := serviceAccountDir
	serviceAccountDir = dir
	t.Cleanup(func() { serviceAccountDir = old })
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)

	v, err := inClusterVersion(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "v1.37.2", v)
	assert.Equal(t, "Bearer sa-token", auth)

	// A server whose certificate the pod's CA does not sign is refused.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("not a certificate"), 0o600))
	_, err = inClusterVersion(context.Background())
	assert.ErrorContains(t, err, "holds no certificate")
}

func TestNoAutoTLSWithoutClientGo(t *testing.T) {
	o := NewInjectorOptions()
	_, err := o.startAutoTLS(context.Background(), nil)
	assert.ErrorContains(t, err, "--tls-cert-file")
	o.Kubeconfig = "/some/kubeconfig"
	assert.False(t, o.kubeReachable(), "no kubeconfig support without client-go")
}
