package csi

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// shortTempDir: unix socket paths are limited to 108 bytes, t.TempDir's can be longer.
func shortTempDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "vkcsi")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startServer(t *testing.T, socket string) (*Server, context.CancelFunc, chan error) {
	t.Helper()
	m := NewMetrics(nil)
	p, err := NewProvider(Options{Metrics: m})
	require.NoError(t, err)
	s := &Server{Socket: socket, HealthAddr: "127.0.0.1:0", Provider: p, Metrics: m, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.Eventually(t, func() bool { return probeSocket(context.Background(), socket) == nil }, 5*time.Second, 20*time.Millisecond)
	return s, cancel, done
}

func TestServerOverUnixSocket(t *testing.T) {
	v := newFakeVault(t)
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "vault.sock")
	// A stale socket from a killed provider is replaced.
	stale, err := listenUnix(socket)
	require.NoError(t, err)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	_, err = os.Lstat(socket)
	require.NoError(t, err, "the stale socket is there")

	_, cancel, done := startServer(t, socket)
	fi, err := os.Stat(socket)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	c := pb.NewCSIDriverProviderClient(conn)
	ver, err := c.Version(context.Background(), &pb.VersionRequest{Version: "v1alpha1"})
	require.NoError(t, err)
	assert.Equal(t, "vaultkube", ver.RuntimeName)
	assert.NotEmpty(t, ver.RuntimeVersion)

	res, err := c.Mount(context.Background(), &pb.MountRequest{
		Attributes: attrs(v.URL, "uid-1", "- {objectName: user, secretPath: secret/data/app, secretKey: user, filePermission: 0640}", nil),
		Permission: "420",
	})
	require.NoError(t, err)
	require.Len(t, res.Files, 1)
	assert.Equal(t, "user", res.Files[0].Path)
	assert.Equal(t, int32(0o640), res.Files[0].Mode)
	assert.Equal(t, "app-user", string(res.Files[0].Contents))
	require.Len(t, res.ObjectVersion, 1)
	assert.Equal(t, "user", res.ObjectVersion[0].Id)

	_, err = c.Mount(context.Background(), &pb.MountRequest{Attributes: attrs(v.URL, "uid-1", "- {objectName: ../x, secretPath: a}", nil)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "objectName")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not stop")
	}
	_, err = os.Lstat(socket)
	assert.True(t, os.IsNotExist(err), "the socket is removed at shutdown")
}

func TestServerRefusesToRemoveAFile(t *testing.T) {
	dir := shortTempDir(t)
	p := filepath.Join(dir, "vault.sock")
	require.NoError(t, os.WriteFile(p, []byte("not a socket"), 0o600))
	_, err := listenUnix(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a socket")
	b, _ := os.ReadFile(p)
	assert.Equal(t, "not a socket", string(b))
}

func TestHealthReadyMetrics(t *testing.T) {
	v := newFakeVault(t)
	dir := shortTempDir(t)
	socket := filepath.Join(dir, "vault.sock")
	s, cancel, done := startServer(t, socket)
	defer func() { cancel(); <-done }()
	mux := s.healthMux()
	get := func(path string) (int, string) {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, path, nil)
		mux.ServeHTTP(rec, req)
		return rec.code, rec.body.String()
	}
	code, _ := get("/healthz")
	assert.Equal(t, 200, code)
	code, _ = get("/readyz")
	assert.Equal(t, 200, code)

	_, _ = s.Provider.Mount(context.Background(), attrs(v.URL, "u", "- {objectName: a, secretPath: secret/data/app, secretKey: user}", nil), "")
	_, _ = s.Provider.Mount(context.Background(), attrs(v.URL, "u", "- {objectName: a, secretPath: x, encoding: rot13}", nil), "")
	code, body := get("/metrics")
	assert.Equal(t, 200, code)
	for _, want := range []string{
		`vaultkube_csi_mounts_total{result="ok"} 1`, `vaultkube_csi_mounts_total{result="error"} 1`,
		`vaultkube_csi_mount_errors_total{kind="parameters"} 1`, `vaultkube_csi_vault_logins_total 1`,
		`vaultkube_csi_vault_requests_total 1`, `vaultkube_csi_mount_duration_seconds_count 2`,
	} {
		assert.Contains(t, body, want)
	}

	// Not ready when the socket does not answer.
	require.NoError(t, os.Remove(socket))
	code, body = get("/readyz")
	assert.Equal(t, 503, code, body)
}

type recorder struct {
	code   int
	header http.Header
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(c int) { r.code = c }

var _ io.Writer = (*recorder)(nil)

func TestSocketPath(t *testing.T) {
	p, err := SocketPath("unix:///var/run/secrets-store-csi-providers/vault.sock")
	require.NoError(t, err)
	assert.Equal(t, "/var/run/secrets-store-csi-providers/vault.sock", p)
	_, err = SocketPath("vault.sock")
	assert.Error(t, err)
}
