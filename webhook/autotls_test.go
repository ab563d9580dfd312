//go:build !nokube

package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func webhookConfig() *admissionregistrationv1.MutatingWebhookConfiguration {
	path := "/mutate"
	none := admissionregistrationv1.SideEffectClassNone
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "vaultkube-injector"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "injector.vaultkube.io",
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: "vaultkube", Name: "vaultkube-injector", Path: &path},
			},
		}},
	}
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestAutoTLS(t *testing.T) (*autoTLS, *fake.Clientset, *clock) {
	client := fake.NewClientset(webhookConfig())
	opts := DefaultAutoTLSOptions()
	opts.CertValidity = 30 * 24 * time.Hour
	opts.CAValidity = 90 * 24 * time.Hour
	at := newAutoTLS(opts, "vaultkube", client, slog.New(slog.DiscardHandler))
	c := &clock{t: time.Now()}
	at.now = c.now
	return at, client, c
}

func (a *autoTLS) state(t *testing.T, client *fake.Clientset) (*corev1.Secret, []byte) {
	t.Helper()
	s, err := client.CoreV1().Secrets("vaultkube").Get(context.Background(), "vaultkube-injector-tls", metav1.GetOptions{})
	require.NoError(t, err)
	mwc, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), "vaultkube-injector", metav1.GetOptions{})
	require.NoError(t, err)
	return s, mwc.Webhooks[0].ClientConfig.CABundle
}

// verify checks that the serving certificate chains to the bundle for the Service name.
func verify(t *testing.T, s *corev1.Secret, bundle []byte, at time.Time) *x509.Certificate {
	t.Helper()
	kp, err := parseKeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(bundle))
	_, err = kp.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "vaultkube-injector.vaultkube.svc", CurrentTime: at})
	require.NoError(t, err)
	return kp.Cert
}

func TestAutoTLSReconcile(t *testing.T) {
	ctx := context.Background()
	at, client, clk := newTestAutoTLS(t)

	require.NoError(t, at.reconcile(ctx))
	s, bundle := at.state(t, client)
	assert.Equal(t, corev1.SecretTypeTLS, s.Type)
	assert.Equal(t, s.Data[keyCABundle], bundle, "the webhook trusts the bundle")
	first := verify(t, s, bundle, clk.t)
	assert.ElementsMatch(t, []string{"vaultkube-injector.vaultkube.svc", "vaultkube-injector", "vaultkube-injector.vaultkube", "vaultkube-injector.vaultkube.svc.cluster.local"}, first.DNSNames)

	t.Run("steady state changes nothing", func(t *testing.T) {
		require.NoError(t, at.reconcile(ctx))
		s2, bundle2 := at.state(t, client)
		assert.Equal(t, s.Data, s2.Data)
		assert.Equal(t, bundle, bundle2)
	})

	t.Run("a reset caBundle is restored", func(t *testing.T) {
		require.NoError(t, client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, "vaultkube-injector", metav1.DeleteOptions{}))
		_, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, webhookConfig(), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, at.reconcile(ctx))
		_, restored := at.state(t, client)
		assert.Equal(t, bundle, restored)
	})

	t.Run("serving certificate renewed with a third of its life left", func(t *testing.T) {
		clk.t = clk.t.Add(21 * 24 * time.Hour)
		require.NoError(t, at.reconcile(ctx))
		s2, bundle2 := at.state(t, client)
		renewed := verify(t, s2, bundle2, clk.t)
		assert.NotEqual(t, first.SerialNumber, renewed.SerialNumber)
		assert.Equal(t, s.Data[keyCACert], s2.Data[keyCACert], "same CA")
		assert.Equal(t, bundle, bundle2)
	})

	t.Run("CA rotation keeps the old CA in the bundle", func(t *testing.T) {
		before, oldBundle := at.state(t, client)
		clk.t = clk.t.Add(45 * 24 * time.Hour) // 66 days into a 90-day CA
		require.NoError(t, at.reconcile(ctx))
		s2, bundle2 := at.state(t, client)
		assert.NotEqual(t, before.Data[keyCACert], s2.Data[keyCACert])
		certs := parseCerts(bundle2)
		require.Len(t, certs, 2)
		assert.Equal(t, parseCerts(before.Data[keyCACert])[0].Raw, certs[1].Raw, "old CA second")
		verify(t, s2, bundle2, clk.t)
		// a certificate of the old CA (still served by replicas that have not reread the
		// Secret) is trusted by the new bundle
		verify(t, before, bundle2, clk.t.Add(-45*24*time.Hour))
		assert.NotEqual(t, oldBundle, bundle2)

		// once the old CA expires it leaves the bundle
		clk.t = clk.t.Add(40 * 24 * time.Hour)
		require.NoError(t, at.reconcile(ctx))
		_, bundle3 := at.state(t, client)
		assert.Len(t, parseCerts(bundle3), 1)
	})

	t.Run("a new CA is in the bundle one check before a certificate of it is served", func(t *testing.T) {
		at2, client2, clk2 := newTestAutoTLS(t)
		at2.opts.CertValidity = at2.opts.CAValidity
		require.NoError(t, at2.reconcile(ctx))
		before, _ := at2.state(t, client2)
		clk2.t = clk2.t.Add(61 * 24 * time.Hour) // both due, neither expired
		require.NoError(t, at2.reconcile(ctx))
		s1, bundle1 := at2.state(t, client2)
		assert.NotEqual(t, before.Data[keyCACert], s1.Data[keyCACert], "the CA rotated")
		require.Len(t, parseCerts(bundle1), 2)
		assert.Equal(t, before.Data["tls.crt"], s1.Data["tls.crt"], "the serving certificate waits for the next check")
		verify(t, s1, bundle1, clk2.t)

		clk2.t = clk2.t.Add(at2.opts.Resync)
		require.NoError(t, at2.reconcile(ctx))
		s2, bundle2 := at2.state(t, client2)
		assert.Equal(t, bundle1, bundle2)
		assert.NotEqual(t, s1.Data["tls.crt"], s2.Data["tls.crt"], "then a certificate of the new CA")
		cert := parseCerts(s2.Data["tls.crt"])[0]
		require.NoError(t, cert.CheckSignatureFrom(parseCerts(s2.Data[keyCACert])[0]))
		verify(t, s2, bundle2, clk2.t)
	})

	t.Run("a corrupt Secret is rebuilt", func(t *testing.T) {
		s, _ := at.state(t, client)
		s.Data["tls.key"] = []byte("garbage")
		s.Data[keyCAKey] = []byte("garbage")
		_, err := client.CoreV1().Secrets("vaultkube").Update(ctx, s, metav1.UpdateOptions{})
		require.NoError(t, err)
		require.NoError(t, at.reconcile(ctx))
		s2, bundle2 := at.state(t, client)
		verify(t, s2, bundle2, clk.t)
	})

	t.Run("missing webhook configuration: the Secret is still written, the bundle later", func(t *testing.T) {
		at2, client2, _ := newTestAutoTLS(t)
		mwcs := client2.AdmissionregistrationV1().MutatingWebhookConfigurations()
		require.NoError(t, mwcs.Delete(ctx, "vaultkube-injector", metav1.DeleteOptions{}))
		require.NoError(t, at2.reconcile(ctx))
		s, err := client2.CoreV1().Secrets("vaultkube").Get(ctx, "vaultkube-injector-tls", metav1.GetOptions{})
		require.NoError(t, err)
		_, err = mwcs.Create(ctx, webhookConfig(), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, at2.reconcile(ctx))
		_, bundle := at2.state(t, client2)
		assert.Equal(t, s.Data[keyCABundle], bundle)
	})
}

func TestAutoTLSWithoutWebhookConfigAccess(t *testing.T) {
	at, client, _ := newTestAutoTLS(t)
	client.PrependReactor("get", "mutatingwebhookconfigurations", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}, "vaultkube-injector", errors.New("no RBAC"))
	})
	require.NoError(t, at.reconcile(context.Background()), "serving goes on; the caBundle is someone else's job")
	require.NoError(t, at.load(context.Background()))
}

func TestAutoTLSLoad(t *testing.T) {
	ctx := context.Background()
	at, _, _ := newTestAutoTLS(t)
	_, err := at.GetCertificate(nil)
	require.Error(t, err)
	require.Error(t, at.load(ctx), "no Secret yet")
	require.NoError(t, at.reconcile(ctx))
	require.NoError(t, at.load(ctx))
	c, err := at.GetCertificate(nil)
	require.NoError(t, err)
	require.NotNil(t, c)
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	require.NoError(t, err)
	assert.Contains(t, leaf.DNSNames, "vaultkube-injector.vaultkube.svc")
}

// TestAutoTLSServer runs the whole injector with a fake API: leader election, Secret,
// caBundle, and a TLS handshake that verifies against the published bundle.
func TestAutoTLSServer(t *testing.T) {
	client := fake.NewClientset(webhookConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o := NewInjectorOptions()
	o.Injector.VaultAddress = "https://vault:8200"
	o.Injector.NativeSidecar = "false"
	o.AutoTLS.SecretNamespace = "vaultkube"
	o.AutoTLS.Resync = 200 * time.Millisecond
	o.log = slog.New(slog.DiscardHandler)
	o.ShutdownDelay = 0
	o.client = client
	o.listener = ln
	var h *Handler
	o.onServe = func(x *Handler) { h = x }
	require.NoError(t, o.Validate())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	var bundle []byte
	require.Eventually(t, func() bool {
		mwc, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "vaultkube-injector", metav1.GetOptions{})
		if err != nil || len(mwc.Webhooks[0].ClientConfig.CABundle) == 0 {
			return false
		}
		bundle = mwc.Webhooks[0].ClientConfig.CABundle
		return h != nil && h.ready.Load()
	}, 20*time.Second, 100*time.Millisecond)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(bundle))
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "vaultkube-injector.vaultkube.svc"})
	require.NoError(t, err)
	conn.Close()
	lease, err := client.CoordinationV1().Leases("vaultkube").Get(ctx, "vaultkube-injector-tls", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, *lease.Spec.HolderIdentity)
}

// TestAutoTLSTwoReplicas runs two replicas against one API: one leads and writes the
// certificate, both serve it; when the leader stops, the other takes the lease over.
func TestAutoTLSTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a lease hand-over (a few seconds)")
	}
	client := fake.NewClientset(webhookConfig())
	opts := DefaultAutoTLSOptions()
	replica := func() *autoTLS { return newAutoTLS(opts, "vaultkube", client, slog.New(slog.DiscardHandler)) }
	a, b := replica(), replica()
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopA()
	defer stopB()
	go a.run(ctxA, "replica-a", func(bool) {})
	go b.run(ctxB, "replica-b", func(bool) {})

	holder := func() string {
		l, err := client.CoordinationV1().Leases("vaultkube").Get(context.Background(), opts.LeaseName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	served := func(r *autoTLS) []byte {
		if c := r.cert.Load(); c != nil {
			return c.Certificate[0]
		}
		return nil
	}
	require.Eventually(t, func() bool {
		return holder() != "" && served(a) != nil && served(b) != nil
	}, 20*time.Second, 50*time.Millisecond, "a leader writes the certificate and both replicas serve it")
	assert.Equal(t, served(a), served(b), "both replicas serve the same certificate")
	s, bundle := a.state(t, client)
	verify(t, s, bundle, time.Now())

	first := holder()
	if first == "replica-a" {
		stopA()
	} else {
		stopB()
	}
	// released on stop, taken at the other's next retry (2 s); at worst when the lease
	// runs out (15 s)
	require.Eventually(t, func() bool { h := holder(); return h != "" && h != first }, 40*time.Second, 50*time.Millisecond,
		"the other replica takes the lease over when the leader stops")
}
