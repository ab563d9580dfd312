// Package webhook serves the mutating admission webhook that injects the vaultkube agent:
// TLS, AdmissionReview decoding, metrics and health around injector.Mutate.
package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vaultkube/vaultkube/internal/envflag"
	"github.com/vaultkube/vaultkube/internal/promexp"

	"github.com/vaultkube/vaultkube/injector"
)

// EnvPrefix prefixes the environment twin of every flag: --agent-image is VAULTKUBE_AGENT_IMAGE.
const EnvPrefix = "VAULTKUBE_"

// InjectorOptions are the flags of `vaultkube injector`.
type InjectorOptions struct {
	Listen string
	// MetricsListen, when set, also serves /metrics, /healthz and /readyz over plain HTTP.
	MetricsListen string
	// MaxConcurrent bounds the admission requests decided at once (0: no limit).
	MaxConcurrent int
	TLSCertFile   string
	TLSKeyFile    string
	// KubernetesVersion overrides the API server version used by --native-sidecar=auto.
	KubernetesVersion string
	Kubeconfig        string
	LogLevel          string
	LogFormat         string
	// ShutdownDelay keeps serving, unready, after SIGTERM so that endpoints drop the pod first.
	ShutdownDelay time.Duration
	// MaxProcs caps GOMAXPROCS (0: no cap); the GOMAXPROCS environment variable wins.
	MaxProcs int
	// GCPercent is the garbage collector's target (GOGC; 0: Go's default); the GOGC
	// environment variable wins.
	GCPercent int

	AutoTLS AutoTLSOptions

	Injector injector.Config

	log      *slog.Logger
	client   kubeClient   // tests: the API for automatic TLS
	listener net.Listener // tests: serve on this listener instead of Listen
	onServe  func(*Handler)
}

// NewInjectorOptions returns options with the defaults.
func NewInjectorOptions() *InjectorOptions {
	return &InjectorOptions{
		Listen:        ":8443",
		LogLevel:      "info",
		LogFormat:     "json",
		ShutdownDelay: 5 * time.Second,
		MaxConcurrent: DefaultMaxConcurrent,
		MaxProcs:      DefaultMaxProcs,
		GCPercent:     DefaultGCPercent,
		AutoTLS:       DefaultAutoTLSOptions(),
		Injector:      injector.DefaultConfig(),
	}
}

// NewCmdInjector returns `vaultkube injector`.
func NewCmdInjector() *cobra.Command {
	o := NewInjectorOptions()
	cmd := &cobra.Command{
		Use:   "injector",
		Short: "Run the mutating admission webhook that injects the vaultkube agent",
		Long: "Run the mutating admission webhook that injects the vaultkube agent into pods annotated\n" +
			"with vault.hashicorp.com/agent-inject: \"true\". Serves /mutate, /healthz, /readyz and /metrics\n" +
			"over HTTPS. With --tls-cert-file and --tls-key-file it needs no Kubernetes access; without\n" +
			"them it manages its own CA and serving certificate (see --auto-tls-*).\n" +
			"Every flag has an environment twin: " + EnvPrefix + "<FLAG_NAME>, for example " + EnvPrefix + "AGENT_IMAGE.",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd.Flags()); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			// here and not in Run, which tests call in their own process
			if procs, ok := cappedProcs(o.MaxProcs, os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0)); ok {
				runtime.GOMAXPROCS(procs)
			}
			if o.GCPercent > 0 && os.Getenv("GOGC") == "" {
				debug.SetGCPercent(o.GCPercent)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return o.Run(ctx)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// AddFlags binds every option to a flag; the usage names the environment twin.
func (o *InjectorOptions) AddFlags(fs *pflag.FlagSet) {
	c := &o.Injector
	fs.StringVar(&o.Listen, "listen", o.Listen, "address to serve HTTPS on")
	fs.StringVar(&o.MetricsListen, "metrics-listen", o.MetricsListen, "also serve /metrics, /healthz and /readyz over plain HTTP on this address (empty: only on --listen)")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent-requests", o.MaxConcurrent, "admission requests decided at once; more are answered 429 (Too Many Requests) at once instead of queueing; 0: no limit")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", "", "PEM certificate file (reloaded when it changes); with --tls-key-file, no Kubernetes access is needed")
	fs.StringVar(&o.TLSKeyFile, "tls-key-file", "", "PEM private key file (reloaded when it changes)")
	fs.StringVar(&o.KubernetesVersion, "kubernetes-version", "", "API server version for --native-sidecar=auto (default: asked from the API server when reachable)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for API access (default: in-cluster configuration)")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "log level of the injector: debug, info, warn, error")
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "log format of the injector: json or text")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", o.ShutdownDelay, "after SIGTERM, keep serving (readyz failing) this long before stopping")
	fs.IntVar(&o.MaxProcs, "max-procs", o.MaxProcs, "run Go code on at most this many CPUs at once (GOMAXPROCS, which Go otherwise sets from the CPU count or the container's CPU limit); 1 answers admission requests with the least CPU and latency; 0: no cap; the GOMAXPROCS environment variable wins")
	fs.IntVar(&o.GCPercent, "gc-percent", o.GCPercent, "garbage-collection target (GOGC): the heap grows this many percent over the live heap before a collection; 50 keeps the webhook's memory near half of Go's default of 100 for some more CPU per request; 0: Go's default; the GOGC environment variable wins")

	fs.StringVar(&c.VaultAddress, "vault-address", c.VaultAddress, "address of Vault for the agents (annotation vault.hashicorp.com/service overrides it)")
	fs.StringVar(&c.VaultNamespace, "vault-namespace", c.VaultNamespace, "default Vault Enterprise namespace")
	fs.StringVar(&c.ProxyAddress, "proxy-address", c.ProxyAddress, "default HTTP(S) proxy for the agents' requests to Vault")
	fs.StringVar(&c.AgentImage, "agent-image", c.AgentImage, "image of the injected agent containers")
	fs.StringVar(&c.AgentBinary, "agent-binary", c.AgentBinary, "path of the agent binary in --agent-image (the full vaultkube binary or vaultkube-agent)")
	fs.StringVar(&c.AuthType, "auth-type", c.AuthType, "default auth method: kubernetes or jwt")
	fs.StringVar(&c.AuthPath, "auth-path", c.AuthPath, "default auth mount path")
	fs.StringVar(&c.DefaultTemplate, "default-template", c.DefaultTemplate, "format of secrets without a template: map or json")
	fs.StringVar(&c.StaticSecretRenderInterval, "template-static-secret-render-interval", c.StaticSecretRenderInterval, "default interval at which the agents re-read static secrets, a duration or seconds (empty: the agent's default, 5m)")
	fs.StringVar(&c.LogLevel, "agent-log-level", c.LogLevel, "default log level of the agents")
	fs.StringVar(&c.LogFormat, "agent-log-format", c.LogFormat, "default log format of the agents: standard or json")
	fs.StringVar(&c.RequestsCPU, "agent-requests-cpu", c.RequestsCPU, "CPU request of the agent containers (empty: none)")
	fs.StringVar(&c.RequestsMem, "agent-requests-mem", c.RequestsMem, "memory request of the agent containers (empty: none)")
	fs.StringVar(&c.RequestsEphemeral, "agent-requests-ephemeral", c.RequestsEphemeral, "ephemeral storage request of the agent containers")
	fs.StringVar(&c.LimitsCPU, "agent-limits-cpu", c.LimitsCPU, "CPU limit of the agent containers (empty: none)")
	fs.StringVar(&c.LimitsMem, "agent-limits-mem", c.LimitsMem, "memory limit of the agent containers (empty: none)")
	fs.StringVar(&c.LimitsEphemeral, "agent-limits-ephemeral", c.LimitsEphemeral, "ephemeral storage limit of the agent containers")
	fs.Int64Var(&c.RunAsUser, "run-as-user", c.RunAsUser, "default user ID of the agent containers")
	fs.Int64Var(&c.RunAsGroup, "run-as-group", c.RunAsGroup, "default group ID of the agent containers")
	fs.BoolVar(&c.RunAsSameUser, "run-as-same-user", c.RunAsSameUser, "run the agents as the first application container's user")
	fs.BoolVar(&c.SetSecurityContext, "set-security-context", c.SetSecurityContext, "give the agent containers a restrictive securityContext")
	fs.BoolVar(&c.RevokeOnShutdown, "revoke-on-shutdown", c.RevokeOnShutdown, "sidecars revoke their Vault token when they stop")
	fs.StringVar(&c.NativeSidecar, "native-sidecar", c.NativeSidecar, "inject a native sidecar (init container with restartPolicy Always): auto (unless the API server is known to be older than 1.29; an unknown version counts as >= 1.29, as every supported release is), true or false")
	fs.StringVar(&c.TokenAudience, "token-audience", c.TokenAudience, "audience of the agents' projected service-account token; give the Vault role the same audience (empty: the API server's default, which makes the token valid against the API server)")
	fs.Int64Var(&c.TokenExpirationSeconds, "token-expiration-seconds", c.TokenExpirationSeconds, "lifetime of the agents' projected service-account token")
	fs.StringVar(&c.SecretsVolumeSizeLimit, "secrets-volume-size-limit", c.SecretsVolumeSizeLimit, "sizeLimit of the memory emptyDir holding rendered secrets")
	fs.BoolVar(&c.EnvModeWarnOnly, "env-mode-warn-only", c.EnvModeWarnOnly, "env mode: skip containers without an explicit command with a warning instead of denying the pod")
	fs.StringSliceVar(&c.SkipNamespaces, "skip-namespaces", c.SkipNamespaces, "more namespaces whose pods are never mutated (kube-system and kube-public never are)")

	o.AutoTLS.AddFlags(fs)

	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += " (env " + EnvName(f.Name) + ")"
	})
}

// DefaultMaxProcs is --max-procs's default. An admission request is a fraction of a
// millisecond of work; with one P the runtime hands it from the network poller to the
// handler without waking other threads, which costs less CPU and time than the work spread
// over several cores (docs/performance.md has the figures). One CPU still answers thousands
// of requests a second.
const DefaultMaxProcs = 1

// DefaultGCPercent is --gc-percent's default. The webhook's live heap is about 2 MB, far
// below the 4 MB heap Go grows to before its first collection with GOGC=100; 50 halves
// that floor. Measured with make bench (docs/performance.md): peak RSS 15.5 MB instead of
// 17.3 MB (vault-k8s: 33 MB), for 0.36 ms instead of 0.31 ms of CPU per request (vault-k8s:
// 0.52 ms).
const DefaultGCPercent = 50

// cappedProcs says which GOMAXPROCS --max-procs asks for: limit when it is below the
// runtime's current value, unless the GOMAXPROCS environment variable chose that value.
// Leaving it alone otherwise keeps the runtime following the container's CPU limit.
func cappedProcs(limit int, env string, current int) (int, bool) {
	if limit <= 0 || env != "" || limit >= current {
		return current, false
	}
	return limit, true
}

// EnvName is the environment twin of a flag.
func EnvName(flag string) string { return envflag.Name(EnvPrefix, flag) }

// Complete fills flags the command line left unset from their environment twins.
func (o *InjectorOptions) Complete(fs *pflag.FlagSet) error {
	errs := []error{envflag.Apply(fs, EnvPrefix)}
	if o.KubernetesVersion != "" {
		o.Injector.ServerVersion = o.KubernetesVersion
	}
	if o.log == nil {
		o.log = newLogger(o.LogLevel, o.LogFormat)
	}
	return errors.Join(errs...)
}

// Validate checks the options.
func (o *InjectorOptions) Validate() error {
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if o.Injector.VaultAddress == "" {
		return errors.New("--vault-address (or " + EnvName("vault-address") + ") is required: the agents need to know where Vault is")
	}
	if o.MaxProcs < 0 || o.MaxProcs > 1024 {
		return fmt.Errorf("--max-procs must be between 0 (no cap) and 1024, got %d", o.MaxProcs)
	}
	if o.GCPercent < 0 || o.GCPercent > 10000 {
		return fmt.Errorf("--gc-percent must be between 0 (Go's default) and 10000, got %d", o.GCPercent)
	}
	if o.MaxConcurrent < 0 {
		return fmt.Errorf("--max-concurrent-requests must be 0 (no limit) or more, got %d", o.MaxConcurrent)
	}
	if o.TLSCertFile == "" {
		if err := o.AutoTLS.Validate(); err != nil {
			return err
		}
	}
	return o.Injector.Validate()
}

func newLogger(level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

// Run serves until ctx is done.
func (o *InjectorOptions) Run(ctx context.Context) error {
	log := o.log
	reg := promexp.NewRegistry()
	h := NewHandler(o.Injector, log, reg)
	h.SetMaxConcurrent(o.MaxConcurrent)
	if o.onServe != nil {
		o.onServe(h)
	}

	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if o.TLSCertFile != "" {
		fc, err := newFileCertificate(o.TLSCertFile, o.TLSKeyFile, log)
		if err != nil {
			return err
		}
		getCert = fc.GetCertificate
		if o.Injector.NativeSidecar == injector.NativeAuto && o.Injector.ServerVersion == "" {
			if o.kubeReachable() {
				go o.discoverVersion(ctx, h)
			} else {
				log.Info("API server version unknown and no API access: native sidecars under --native-sidecar=auto, as every supported Kubernetes release has them (set --kubernetes-version or --native-sidecar=false for an older API server)")
			}
		}
	} else {
		at, err := o.startAutoTLS(ctx, h)
		if err != nil {
			return err
		}
		getCert = at.GetCertificate
	}

	ln := o.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", o.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", o.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: getCert},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	var plain *http.Server
	if o.MetricsListen != "" {
		mln, err := net.Listen("tcp", o.MetricsListen)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("listen on %s: %w", o.MetricsListen, err)
		}
		plain = &http.Server{Handler: h.PlainHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- plain.Serve(mln) }()
	}
	cfg := h.Config()
	log.Info("injector serving", "address", ln.Addr().String(), "vaultAddress", cfg.VaultAddress, "agentImage", cfg.AgentImage,
		"nativeSidecar", cfg.NativeSidecar, "serverVersion", cfg.ServerVersion, "gomaxprocs", runtime.GOMAXPROCS(0), "gogc", gogc(o.GCPercent))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	h.SetReady(false)
	if o.ShutdownDelay > 0 {
		log.Info("stopping", "delay", o.ShutdownDelay.String())
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-time.After(o.ShutdownDelay):
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if plain != nil {
		_ = plain.Shutdown(shutdownCtx)
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// gogc is the GC target the process runs with, for the log.
func gogc(flag int) string {
	if env := os.Getenv("GOGC"); env != "" {
		return env
	}
	if flag > 0 {
		return fmt.Sprint(flag)
	}
	return "100"
}
