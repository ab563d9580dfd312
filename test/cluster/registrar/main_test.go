package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// dial connects to the registration socket as kubelet's plugin watcher does.
func dial(t *testing.T, sock string) registerapi.RegistrationClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return registerapi.NewRegistrationClient(conn)
}

func TestGetInfo(t *testing.T) {
	// Unix socket paths are short (108 bytes): a fresh dir under os.TempDir, not t.TempDir.
	dir, err := os.MkdirTemp("", "reg")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "secrets-store.csi.k8s.io-reg.sock")
	// A stale file where the socket goes is replaced.
	require.NoError(t, os.WriteFile(sock, []byte("stale"), 0o600))

	const endpoint = "/state/kubelet/root/plugins/csi-secrets-store/csi.sock"
	r := newRegistrar("secrets-store.csi.k8s.io", endpoint)
	s, err := serve(r, sock)
	require.NoError(t, err)
	t.Cleanup(s.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dial(t, sock)
	info, err := c.GetInfo(ctx, &registerapi.InfoRequest{})
	require.NoError(t, err)
	require.Equal(t, registerapi.CSIPlugin, info.Type)
	require.Equal(t, "secrets-store.csi.k8s.io", info.Name)
	require.Equal(t, endpoint, info.Endpoint)
	require.Equal(t, []string{"1.0.0"}, info.SupportedVersions)

	// Success is only logged.
	_, err = c.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{PluginRegistered: true})
	require.NoError(t, err)
	select {
	case err := <-r.failed:
		t.Fatalf("a successful registration reported a failure: %v", err)
	default:
	}
	// A refusal reaches main, which exits non-zero.
	_, err = c.NotifyRegistrationStatus(ctx, &registerapi.RegistrationStatus{Error: "boom"})
	require.NoError(t, err)
	select {
	case err := <-r.failed:
		require.ErrorContains(t, err, "boom")
	case <-time.After(5 * time.Second):
		t.Fatal("a refused registration was not reported")
	}
}

func TestWaitForSocket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	require.Error(t, waitForSocket(ctx, filepath.Join(t.TempDir(), "absent.sock")))
}
