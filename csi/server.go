package csi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vaultkube/vaultkube/internal/promexp"
	"github.com/vaultkube/vaultkube/internal/version"
)

// ProviderName is the name the driver knows the provider by: its socket is
// <providers dir>/vault.sock, as vault-csi-provider's.
const ProviderName = "vault"

// Metrics are the provider's Prometheus metrics. Every label value is one of a fixed set.
type Metrics struct {
	Registry     *promexp.Registry
	Mounts       *promexp.CounterVec // result: ok, error
	Errors       *promexp.CounterVec // kind: parameters, login, read, template, size, content, internal
	Logins       *promexp.Counter
	LoginErrors  *promexp.Counter
	Reads        *promexp.Counter
	CacheHits    *promexp.CounterVec // cache: lease
	MountSeconds *promexp.Histogram
}

// NewMetrics registers the provider's metrics in r (a new registry when nil).
func NewMetrics(r *promexp.Registry) *Metrics {
	if r == nil {
		r = promexp.NewRegistry()
	}
	return &Metrics{
		Registry:     r,
		Mounts:       r.NewCounterVec("vaultkube_csi_mounts_total", "Mount requests answered, by result.", "result"),
		Errors:       r.NewCounterVec("vaultkube_csi_mount_errors_total", "Failed mounts, by kind of error.", "kind"),
		Logins:       r.NewCounter("vaultkube_csi_vault_logins_total", "Vault logins (one per pod per token TTL)."),
		LoginErrors:  r.NewCounter("vaultkube_csi_vault_login_errors_total", "Vault logins that failed."),
		Reads:        r.NewCounter("vaultkube_csi_vault_requests_total", "Vault reads and writes for objects."),
		CacheHits:    r.NewCounterVec("vaultkube_csi_cache_hits_total", "Answers served from a cache, by cache.", "cache"),
		MountSeconds: r.NewHistogram("vaultkube_csi_mount_duration_seconds", "Time to answer a mount.", []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}),
	}
}

// grpcService adapts a Provider to the driver's CSIDriverProvider service.
type grpcService struct {
	pb.UnimplementedCSIDriverProviderServer
	p   *Provider
	log *slog.Logger
}

func (g *grpcService) Version(context.Context, *pb.VersionRequest) (*pb.VersionResponse, error) {
	v := strings.TrimPrefix(version.Version, "v")
	if v == "" || !strings.ContainsAny(v[:1], "0123456789") {
		v = "0.0.0-" + strings.Map(func(r rune) rune {
			if r == '-' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
				return r
			}
			return '-'
		}, firstNonEmpty(version.Version, "dev"))
	}
	return &pb.VersionResponse{Version: "v1alpha1", RuntimeName: "vaultkube", RuntimeVersion: v}, nil
}

func (g *grpcService) Mount(ctx context.Context, req *pb.MountRequest) (*pb.MountResponse, error) {
	res, err := g.p.Mount(ctx, req.GetAttributes(), req.GetPermission())
	if err != nil {
		g.log.Warn("mount failed", "kind", ErrorKind(err), "error", err.Error())
		// The driver shows the error in the pod's events; the code feeds its metrics.
		return &pb.MountResponse{Error: &pb.Error{Code: ErrorKind(err)}}, err
	}
	out := &pb.MountResponse{}
	for _, f := range res.Files {
		out.Files = append(out.Files, &pb.File{Path: f.Path, Mode: f.Mode, Contents: f.Contents})
	}
	for _, v := range res.Versions {
		out.ObjectVersion = append(out.ObjectVersion, &pb.ObjectVersion{Id: v.ID, Version: v.Version})
	}
	return out, nil
}

// SocketPath turns an --endpoint (a path or unix://path) into the socket's path.
func SocketPath(endpoint string) (string, error) {
	p := strings.TrimPrefix(endpoint, "unix://")
	if p == "" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("--endpoint %q: give an absolute socket path, for example /var/run/secrets-store-csi-providers/vault.sock", endpoint)
	}
	return filepath.Clean(p), nil
}

// listenUnix listens on path, removing a stale socket first (never another kind of file).
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket: not removing it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove the stale socket %s: %w", path, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil { // only root (the driver) talks to it
		l.Close()
		return nil, err
	}
	return l, nil
}

// Server is the provider's gRPC server and its health and metrics endpoints.
type Server struct {
	Socket     string
	HealthAddr string // "" for none
	Provider   *Provider
	Metrics    *Metrics
	Log        *slog.Logger
	// GracePeriod bounds the wait for mounts in flight at shutdown.
	GracePeriod time.Duration
}

// Run serves until ctx ends, then stops gracefully.
func (s *Server) Run(ctx context.Context) error {
	l, err := listenUnix(s.Socket)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Socket, err)
	}
	g := grpc.NewServer(grpc.MaxSendMsgSize(MaxResponseBytes + 1<<20))
	pb.RegisterCSIDriverProviderServer(g, &grpcService{p: s.Provider, log: s.Log})
	errc := make(chan error, 2)
	go func() { errc <- g.Serve(l) }()
	s.Log.Info("CSI provider serving", "socket", s.Socket, "provider", ProviderName, "version", version.Version)

	var hs *http.Server
	if s.HealthAddr != "" {
		hl, err := net.Listen("tcp", s.HealthAddr)
		if err != nil {
			g.Stop()
			return fmt.Errorf("listen on --health-addr %s: %w", s.HealthAddr, err)
		}
		hs = &http.Server{Handler: s.healthMux(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := hs.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		s.Log.Info("health and metrics serving", "address", hl.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.Log.Info("CSI provider stopping")
	if hs != nil {
		sc, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = hs.Shutdown(sc)
		cancel()
	}
	grace := s.GracePeriod
	if grace <= 0 {
		grace = 10 * time.Second
	}
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		g.Stop()
	}
	_ = os.Remove(s.Socket)
	return err
}

func (s *Server) healthMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	// Ready means the driver can reach us: the socket answers a Version call.
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := probeSocket(ctx, s.Socket); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", s.Metrics.Registry.Handler())
	return mux
}

// probeSocket calls Version on the provider socket, as the driver would.
func probeSocket(ctx context.Context, socket string) error {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = pb.NewCSIDriverProviderClient(conn).Version(ctx, &pb.VersionRequest{Version: "v1alpha1"})
	return err
}
