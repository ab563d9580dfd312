//go:build !nokube

package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDiscoverVersion asks a stand-in API server for its version through a kubeconfig, as
// --native-sidecar=auto does at startup.
func TestDiscoverVersion(t *testing.T) {
	calls := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		calls++
		if calls == 1 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	defer api.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, api.URL)), 0o600))

	o := NewInjectorOptions()
	o.Kubeconfig = kubeconfig
	o.Injector.VaultAddress = "https://vault:8200"
	o.log = slog.New(slog.DiscardHandler)
	h := NewHandler(o.Injector, nil, nil)
	assert.True(t, h.Config().ServerSupportsNativeSidecars(), "unknown version: assumed >= 1.29 (issue 18)")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o.discoverVersion(ctx, h)
	assert.Equal(t, "v1.37.2", h.Config().ServerVersion)
	assert.True(t, h.Config().ServerSupportsNativeSidecars())
	assert.Equal(t, 2, calls, "retried after the first failure")
}

func TestDiscoverVersionWithoutAPI(t *testing.T) {
	o := NewInjectorOptions()
	o.Kubeconfig = filepath.Join(t.TempDir(), "missing")
	o.log = slog.New(slog.DiscardHandler)
	h := NewHandler(o.Injector, nil, nil)
	o.discoverVersion(context.Background(), h)
	assert.Empty(t, h.Config().ServerVersion, "no API: the version stays unknown")
	assert.True(t, h.Config().ServerSupportsNativeSidecars(), "unknown version: native sidecars, so Jobs complete")
}
