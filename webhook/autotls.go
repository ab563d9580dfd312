package webhook

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/spf13/pflag"
)

// AutoTLSOptions configure the self-managed CA and serving certificate.
type AutoTLSOptions struct {
	SecretName        string
	SecretNamespace   string
	ServiceName       string
	WebhookConfigName string
}

// DefaultAutoTLSOptions returns the defaults.
func DefaultAutoTLSOptions() AutoTLSOptions {
	return AutoTLSOptions{
		SecretName:        "vaultkube-injector-tls",
		SecretNamespace:   "",
		ServiceName:       "vaultkube-injector",
		WebhookConfigName: "vaultkube-injector",
	}
}

// AddFlags binds the options.
func (a *AutoTLSOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.SecretName, "auto-tls-secret", a.SecretName, "automatic TLS: Secret holding the CA and serving certificate")
	fs.StringVar(&a.SecretNamespace, "auto-tls-namespace", a.SecretNamespace, "automatic TLS: namespace of the Secret and the Service (default: the pod's namespace)")
	fs.StringVar(&a.ServiceName, "auto-tls-service", a.ServiceName, "automatic TLS: Service name the certificate is for")
	fs.StringVar(&a.WebhookConfigName, "auto-tls-webhook-config", a.WebhookConfigName, "automatic TLS: MutatingWebhookConfiguration whose caBundle is kept current")
}

// Validate checks the options.
func (a *AutoTLSOptions) Validate() error { return nil }

type certSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

func (o *InjectorOptions) startAutoTLS(ctx context.Context, h *Handler) (certSource, error) {
	return nil, errors.New("automatic TLS is not built yet: pass --tls-cert-file and --tls-key-file")
}
