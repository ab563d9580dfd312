// Package csi is the Secrets Store CSI Driver provider: a gRPC server on a unix socket that
// mounts Vault secrets described by SecretProviderClass parameters, compatible with
// hashicorp/vault-csi-provider's parameters.
package csi

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vaultkube/vaultkube/internal/envflag"
)

// EnvPrefix prefixes the environment twin of every flag: --vault-address is
// VAULTKUBE_CSI_VAULT_ADDRESS.
const EnvPrefix = "VAULTKUBE_CSI_"

// EnvName returns the environment twin of a flag.
func EnvName(flag string) string { return envflag.Name(EnvPrefix, flag) }

// ProviderOptions are the flags of `vaultkube csi-provider`.
type ProviderOptions struct {
	Endpoint        string
	HealthAddr      string
	Defaults        Defaults
	ReadConcurrency int
	RequestTimeout  time.Duration
	LogLevel        string
	LogFormat       string
}

// NewCmdProvider returns `vaultkube csi-provider`.
func NewCmdProvider() *cobra.Command {
	o := &ProviderOptions{
		Endpoint:        "/var/run/secrets-store-csi-providers/vault.sock",
		HealthAddr:      "127.0.0.1:8099",
		Defaults:        Defaults{AuthMountPath: "kubernetes"},
		ReadConcurrency: 8,
		RequestTimeout:  30 * time.Second,
		LogLevel:        "info",
		LogFormat:       "json",
	}
	cmd := &cobra.Command{
		Use:   "csi-provider",
		Short: "Serve SecretProviderClass volumes from Vault to the Secrets Store CSI Driver",
		Long: `Serve SecretProviderClass volumes from Vault to the Secrets Store CSI Driver.

The provider listens on a unix socket in the driver's providers directory (provider name
"vault", so SecretProviderClasses written for vault-csi-provider work unchanged). For each
mount it logs in to Vault as the pod's service account, with the token the driver passes
(the CSIDriver's tokenRequests), reads each object once, and returns the files.

SecretProviderClass parameters win over these flags; every flag has an environment twin
(` + EnvPrefix + `<FLAG>, for example ` + EnvName("vault-address") + `). TLS to Vault is verified unless a
SecretProviderClass sets vaultSkipTLSVerify: "true"; VAULT_* environment variables are never used.`,
		Example: `  vaultkube csi-provider --endpoint /var/run/secrets-store-csi-providers/vault.sock \
    --vault-address https://vault.vault.svc:8200 --vault-ca-cert /vault/tls/ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd.Flags()); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return o.Run(ctx)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Endpoint, "endpoint", o.Endpoint, "unix socket to serve the driver on (a path or unix://path)")
	fs.StringVar(&o.HealthAddr, "health-addr", o.HealthAddr, "address of /healthz, /readyz and /metrics (\"\" turns them off)")
	fs.StringVar(&o.Defaults.VaultAddress, "vault-address", o.Defaults.VaultAddress, "Vault address when a SecretProviderClass has no vaultAddress")
	fs.StringVar(&o.Defaults.VaultNamespace, "vault-namespace", "", "Vault namespace when a SecretProviderClass has no vaultNamespace")
	fs.StringVar(&o.Defaults.CACert, "vault-ca-cert", "", "PEM CA file for Vault's certificate (vaultCACertPath)")
	fs.StringVar(&o.Defaults.CADirectory, "vault-ca-directory", "", "directory of PEM CA files (vaultCADirectory)")
	fs.StringVar(&o.Defaults.TLSServerName, "vault-tls-server-name", "", "server name for Vault's certificate (vaultTLSServerName)")
	fs.StringVar(&o.Defaults.ClientCert, "vault-tls-client-cert", "", "PEM client certificate for TLS to Vault (vaultTLSClientCertPath)")
	fs.StringVar(&o.Defaults.ClientKey, "vault-tls-client-key", "", "PEM client key for TLS to Vault (vaultTLSClientKeyPath)")
	fs.StringVar(&o.Defaults.AuthMountPath, "vault-auth-mount-path", o.Defaults.AuthMountPath, "auth mount when a SecretProviderClass sets none (vaultAuthMountPath)")
	fs.StringVar(&o.Defaults.Audience, "audience", "", "token audience when a SecretProviderClass sets none (audience); empty: the driver's only token")
	fs.IntVar(&o.ReadConcurrency, "read-concurrency", o.ReadConcurrency, "parallel Vault reads per mount")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "timeout of each Vault request")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "debug, info, warn or error")
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "json or text")
	fs.VisitAll(func(f *pflag.Flag) { f.Usage += " (env " + EnvName(f.Name) + ")" })
	return cmd
}

// Complete fills flags the command line left unset from their environment twins.
func (o *ProviderOptions) Complete(fs *pflag.FlagSet) error {
	return envflag.Apply(fs, EnvPrefix)
}

// Validate checks the options.
func (o *ProviderOptions) Validate() error {
	if _, err := SocketPath(o.Endpoint); err != nil {
		return err
	}
	if o.ReadConcurrency < 1 || o.ReadConcurrency > 256 {
		return fmt.Errorf("--read-concurrency %d: give 1 to 256", o.ReadConcurrency)
	}
	if o.RequestTimeout <= 0 {
		return fmt.Errorf("--request-timeout %s: give a positive duration", o.RequestTimeout)
	}
	if _, err := parseLevel(o.LogLevel); err != nil {
		return err
	}
	if o.LogFormat != "json" && o.LogFormat != "text" {
		return fmt.Errorf("--log-format %q: give json or text", o.LogFormat)
	}
	if o.Defaults.VaultAddress != "" {
		d := o.Defaults
		d.VaultAddress = strings.TrimSpace(d.VaultAddress)
		if _, err := ParseRequest(`{"roleName":"r","csi.storage.k8s.io/pod.uid":"u","csi.storage.k8s.io/serviceAccount.tokens":"{\"\":{\"token\":\"t\"}}","objects":"- {objectName: a, secretPath: a}"}`, "", d); err != nil {
			return fmt.Errorf("--vault-address and TLS flags: %w", err)
		}
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: give debug, info, warn or error", s)
	}
	return l, nil
}

// Run serves until ctx ends.
func (o *ProviderOptions) Run(ctx context.Context) error {
	lvl, _ := parseLevel(o.LogLevel)
	hopts := &slog.HandlerOptions{Level: lvl}
	var log *slog.Logger
	if o.LogFormat == "text" {
		log = slog.New(slog.NewTextHandler(os.Stderr, hopts))
	} else {
		log = slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	}
	// consul-template logs through the standard logger, at TRACE for every template read.
	if lvl > slog.LevelDebug {
		stdlog.SetOutput(io.Discard)
	} else {
		stdlog.SetOutput(os.Stderr)
	}
	socket, _ := SocketPath(o.Endpoint)
	m := NewMetrics(nil)
	p, err := NewProvider(Options{
		Defaults: o.Defaults, ReadConcurrency: o.ReadConcurrency, RequestTimeout: o.RequestTimeout,
		Log: log, Metrics: m,
	})
	if err != nil {
		return err
	}
	s := &Server{Socket: socket, HealthAddr: o.HealthAddr, Provider: p, Metrics: m, Log: log}
	return s.Run(ctx)
}
