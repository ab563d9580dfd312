package webhook

import (
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// AutoTLSOptions configure the self-managed CA and serving certificate: the leader (one of
// the replicas, by Lease) keeps a CA and a serving certificate in a Secret, renews them
// before expiry and writes the CA bundle (current and previous CA) into the
// MutatingWebhookConfiguration; every replica serves the certificate it reads from the Secret.
type AutoTLSOptions struct {
	SecretName        string
	SecretNamespace   string
	ServiceName       string
	WebhookConfigName string
	LeaseName         string
	CAValidity        time.Duration
	CertValidity      time.Duration
	// Resync is how often the leader checks the certificates and followers reread the Secret.
	Resync time.Duration
}

// DefaultAutoTLSOptions returns the defaults.
func DefaultAutoTLSOptions() AutoTLSOptions {
	return AutoTLSOptions{
		SecretName:        "vaultkube-injector-tls",
		ServiceName:       "vaultkube-injector",
		WebhookConfigName: "vaultkube-injector",
		LeaseName:         "vaultkube-injector-tls",
		CAValidity:        5 * 365 * 24 * time.Hour,
		CertValidity:      90 * 24 * time.Hour,
		Resync:            30 * time.Second,
	}
}

// AddFlags binds the options.
func (a *AutoTLSOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.SecretName, "auto-tls-secret", a.SecretName, "automatic TLS: Secret holding the CA and the serving certificate")
	fs.StringVar(&a.SecretNamespace, "auto-tls-namespace", a.SecretNamespace, "automatic TLS: namespace of the Secret, the Lease and the Service (default: the pod's namespace)")
	fs.StringVar(&a.ServiceName, "auto-tls-service", a.ServiceName, "automatic TLS: Service name the certificate is for")
	fs.StringVar(&a.WebhookConfigName, "auto-tls-webhook-config", a.WebhookConfigName, "automatic TLS: MutatingWebhookConfiguration whose caBundle is kept current")
	fs.StringVar(&a.LeaseName, "auto-tls-lease", a.LeaseName, "automatic TLS: Lease for electing the replica that renews certificates")
	fs.DurationVar(&a.CAValidity, "auto-tls-ca-validity", a.CAValidity, "automatic TLS: lifetime of the CA (renewed when a third is left; the old CA stays in the bundle)")
	fs.DurationVar(&a.CertValidity, "auto-tls-cert-validity", a.CertValidity, "automatic TLS: lifetime of the serving certificate (renewed when a third is left)")
	fs.DurationVar(&a.Resync, "auto-tls-resync", a.Resync, "automatic TLS: how often certificates are checked and the Secret reread")
}

// Validate checks the options.
func (a *AutoTLSOptions) Validate() error {
	switch {
	case a.SecretName == "" || a.ServiceName == "" || a.WebhookConfigName == "" || a.LeaseName == "":
		return errors.New("automatic TLS needs --auto-tls-secret, --auto-tls-service, --auto-tls-webhook-config and --auto-tls-lease (or pass --tls-cert-file/--tls-key-file)")
	case a.CertValidity < time.Hour || a.CAValidity < 2*a.CertValidity:
		return errors.New("automatic TLS: --auto-tls-cert-validity must be at least 1h and --auto-tls-ca-validity at least twice as long")
	case a.Resync <= 0:
		return errors.New("automatic TLS: --auto-tls-resync must be positive")
	}
	return nil
}

// podNamespace is the namespace the injector runs in.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if raw, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(raw))
	}
	return ""
}

type certSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}
