//go:build !nokube

package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/vaultkube/vaultkube/injector"
)

// Keys of the automatic-TLS Secret (type kubernetes.io/tls).
const (
	keyCACert   = "ca.crt"
	keyCAKey    = "ca.key"
	keyCABundle = "ca-bundle.crt"
)

// autoTLS is one replica's view of the automatic certificates.
type autoTLS struct {
	opts      AutoTLSOptions
	namespace string
	client    kubernetes.Interface
	log       *slog.Logger
	now       func() time.Time

	cert    atomic.Pointer[tls.Certificate]
	certPEM []byte // last loaded, to skip reparsing (loader goroutine only)
}

func newAutoTLS(opts AutoTLSOptions, namespace string, client kubernetes.Interface, log *slog.Logger) *autoTLS {
	return &autoTLS{opts: opts, namespace: namespace, client: client, log: log, now: time.Now}
}

// GetCertificate is tls.Config.GetCertificate.
func (a *autoTLS) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := a.cert.Load()
	if c == nil {
		return nil, errors.New("no serving certificate yet")
	}
	return c, nil
}

func (a *autoTLS) dnsNames() []string {
	s, ns := a.opts.ServiceName, a.namespace
	return []string{s + "." + ns + ".svc", s, s + "." + ns, s + "." + ns + ".svc.cluster.local"}
}

// remaining reports whether less than a third of a certificate's lifetime is left.
func (a *autoTLS) renewDue(c *x509.Certificate) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return a.now().After(c.NotAfter.Add(-life / 3))
}

// reconcile is the leader's job: make the Secret hold a valid CA and serving certificate and
// the webhook configuration trust them. A new CA reaches the webhook configuration's bundle
// one check before a certificate from it is written to the Secret (unless the current
// certificate cannot wait).
func (a *autoTLS) reconcile(ctx context.Context) error {
	secrets := a.client.CoreV1().Secrets(a.namespace)
	secret, err := secrets.Get(ctx, a.opts.SecretName, metav1.GetOptions{})
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get Secret %s/%s: %w", a.namespace, a.opts.SecretName, err)
	}
	var data map[string][]byte
	if exists {
		data = secret.Data
	}
	now := a.now()

	ca, caErr := parseKeyPair(data[keyCACert], data[keyCAKey])
	bundle := data[keyCABundle]
	if caErr != nil || a.renewDue(ca.Cert) {
		next, err := newCA("vaultkube-injector-ca", now, a.opts.CAValidity)
		if err != nil {
			return err
		}
		if caErr == nil {
			a.log.Info("rotating the injector CA", "notAfter", ca.Cert.NotAfter)
		}
		ca = next
	}
	// current CA first, then the previous ones until they expire
	bundle = buildBundle(ca, bundle, now)

	// A missing configuration (not installed yet, or managed elsewhere) must not keep the
	// replicas from serving; it is patched once it exists. Other errors stop here, so that
	// a certificate from a new CA is never published before the bundle that trusts it.
	bundleChanged, err := a.ensureCABundle(ctx, bundle)
	if err != nil {
		switch {
		case apierrors.IsNotFound(err):
			a.log.Warn("MutatingWebhookConfiguration not found; its caBundle will be set once it exists", "name", a.opts.WebhookConfigName)
		case apierrors.IsForbidden(err):
			a.log.Warn("not allowed to update the MutatingWebhookConfiguration: its caBundle must be kept current by other means", "name", a.opts.WebhookConfigName, "error", err)
		default:
			return err
		}
	}

	serving, err := parseKeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil || a.renewDue(serving.Cert) || !slices.Equal(serving.Cert.DNSNames, a.dnsNames()) || serving.Cert.CheckSignatureFrom(ca.Cert) != nil {
		// The API server takes a moment to see a new bundle: a certificate of a new CA is
		// served from the next check on, while the current one stays valid and trusted.
		if bundleChanged && err == nil && slices.Equal(serving.Cert.DNSNames, a.dnsNames()) &&
			now.Add(2*a.opts.Resync).Before(serving.Cert.NotAfter) && trusted(serving.Cert, bundle, now) {
			a.log.Info("caBundle updated; the serving certificate follows at the next check")
		} else if serving, err = newServingCert(ca, a.dnsNames(), now, a.opts.CertValidity); err != nil {
			return err
		}
	}

	want := map[string][]byte{
		keyCACert:               ca.CertPEM,
		keyCAKey:                ca.KeyPEM,
		keyCABundle:             bundle,
		corev1.TLSCertKey:       serving.CertPEM,
		corev1.TLSPrivateKeyKey: serving.KeyPEM,
	}
	if !exists {
		_, err := secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: a.opts.SecretName, Namespace: a.namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "vaultkube-injector"}},
			Type: corev1.SecretTypeTLS,
			Data: want,
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create Secret %s/%s: %w", a.namespace, a.opts.SecretName, err)
		}
		a.log.Info("injector certificate created", "secret", a.opts.SecretName, "notAfter", serving.Cert.NotAfter)
		return nil
	}
	if sameData(secret.Data, want) {
		return nil
	}
	secret = secret.DeepCopy()
	secret.Data = want
	if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update Secret %s/%s: %w", a.namespace, a.opts.SecretName, err)
	}
	a.log.Info("injector certificate renewed", "secret", a.opts.SecretName, "notAfter", serving.Cert.NotAfter)
	return nil
}

// buildBundle is the current CA followed by the still valid CAs of the old bundle.
func buildBundle(ca *keyPair, old []byte, now time.Time) []byte {
	out := append([]byte(nil), ca.CertPEM...)
	for _, c := range parseCerts(old) {
		if c.Equal(ca.Cert) || now.After(c.NotAfter) {
			continue
		}
		out = append(out, pemCert(c)...)
	}
	return out
}

func sameData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if !bytes.Equal(a[k], v) {
			return false
		}
	}
	return true
}

// ensureCABundle writes bundle into every webhook of the MutatingWebhookConfiguration.
func (a *autoTLS) ensureCABundle(ctx context.Context, bundle []byte) (changed bool, err error) {
	api := a.client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mwc, err := api.Get(ctx, a.opts.WebhookConfigName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get MutatingWebhookConfiguration %s: %w", a.opts.WebhookConfigName, err)
		}
		changed = false
		for i := range mwc.Webhooks {
			if !bytes.Equal(mwc.Webhooks[i].ClientConfig.CABundle, bundle) {
				mwc.Webhooks[i].ClientConfig.CABundle = bundle
				changed = true
			}
		}
		if !changed {
			return nil
		}
		if _, err := api.Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
			return err
		}
		a.log.Info("caBundle updated", "webhookConfiguration", a.opts.WebhookConfigName)
		return nil
	})
	return changed && err == nil, err
}

// trusted reports whether cert is signed by a CA of the bundle that is valid at now.
func trusted(cert *x509.Certificate, bundle []byte, now time.Time) bool {
	for _, ca := range parseCerts(bundle) {
		if now.Before(ca.NotAfter) && cert.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

// load reads the serving certificate from the Secret (every replica does).
func (a *autoTLS) load(ctx context.Context) error {
	secret, err := a.client.CoreV1().Secrets(a.namespace).Get(ctx, a.opts.SecretName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get Secret %s/%s: %w", a.namespace, a.opts.SecretName, err)
	}
	certPEM, keyPEM := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	if bytes.Equal(certPEM, a.certPEM) {
		return nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("Secret %s/%s: %w", a.namespace, a.opts.SecretName, err)
	}
	a.cert.Store(&cert)
	a.certPEM = certPEM
	a.log.Info("serving certificate loaded", "secret", a.opts.SecretName)
	return nil
}

// run elects a leader that reconciles, and keeps loading the Secret, until ctx is done.
func (a *autoTLS) run(ctx context.Context, identity string, ready func(bool)) {
	go a.lead(ctx, identity)
	tick := time.NewTicker(a.opts.Resync)
	defer tick.Stop()
	fast := time.NewTicker(time.Second) // until the first certificate
	defer fast.Stop()
	for {
		if err := a.load(ctx); err != nil {
			a.log.Debug("waiting for the serving certificate", "error", err)
		}
		ready(a.cert.Load() != nil)
		wait := tick.C
		if a.cert.Load() == nil {
			wait = fast.C
		}
		select {
		case <-ctx.Done():
			return
		case <-wait:
		}
	}
}

func (a *autoTLS) lead(ctx context.Context, identity string) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: a.opts.LeaseName, Namespace: a.namespace},
		Client:     a.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Name:            a.opts.LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					a.log.Info("leading certificate management", "identity", identity)
					for {
						if err := a.reconcile(ctx); err != nil {
							a.log.Error("certificate reconcile failed", "error", err)
						}
						select {
						case <-ctx.Done():
							return
						case <-time.After(a.opts.Resync):
						}
					}
				},
				OnStoppedLeading: func() { a.log.Info("stopped leading certificate management", "identity", identity) },
			},
		})
		if err != nil {
			a.log.Error("leader election", "error", err)
			return
		}
		le.Run(ctx)
	}
}

// startAutoTLS connects to the API server and starts certificate management.
func (o *InjectorOptions) startAutoTLS(ctx context.Context, h *Handler) (certSource, error) {
	client := o.client
	if client == nil {
		cfg, err := restConfig(o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("automatic TLS needs the API: %w", err)
		}
		if client, err = kubernetes.NewForConfig(cfg); err != nil {
			return nil, err
		}
		if o.Injector.NativeSidecar == injector.NativeAuto && o.Injector.ServerVersion == "" {
			go o.discoverVersion(ctx, h)
		}
	}
	ns := o.AutoTLS.SecretNamespace
	if ns == "" {
		ns = podNamespace()
	}
	if ns == "" {
		return nil, errors.New("automatic TLS: set --auto-tls-namespace (or POD_NAMESPACE)")
	}
	// client-go's leader election logs through klog: send it to our logger.
	klog.SetSlogLogger(o.log)
	host, _ := os.Hostname()
	at := newAutoTLS(o.AutoTLS, ns, client, o.log)
	h.SetReady(false)
	go at.run(ctx, host+"_"+uuid.NewString(), h.SetReady)
	return at, nil
}

// kubeClient is the API client the options carry for automatic TLS (tests set a fake).
type kubeClient = kubernetes.Interface
