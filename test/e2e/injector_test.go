//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// servingCert makes a CA and a serving certificate for the given IPs and DNS names; it
// returns the CA PEM and the paths of the certificate and key files (0600).
func servingCert(t *testing.T, ips []net.IP, names []string) (caPEM []byte, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vaultkube-e2e-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "vaultkube-injector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips, DNSNames: names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), certFile, keyFile
}

func repoBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", name))
	require.NoError(t, err)
	_, err = os.Stat(p)
	require.NoError(t, err, "%s is missing: run `make build`", p)
	return p
}

// startInjectorInNode runs `vaultkube injector` with certificate files inside the node's
// network namespace on 127.0.0.1, where the apiserver reaches it; it returns the port.
func (c *cluster) startInjectorInNode(t *testing.T, certFile, keyFile string, extra ...string) int {
	t.Helper()
	bin := repoBinary(t, "vaultkube")
	port := 20000 + mrand.IntN(10000)
	args := append([]string{"--net=/run/netns/vaultkube", bin, "injector",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--vault-address", "http://vault.vault.svc:8200",
		"--agent-image", "vaultkube.local/vaultkube:dev"}, extra...)
	cmd := exec.Command("nsenter", args...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("injector logs:\n%s", logs.String())
		}
	})
	return port
}

// webhookConfig registers the injector for pods in the given namespaces only, so that the
// rest of the suite is not affected.
func (c *cluster) webhookConfig(t *testing.T, name string, caPEM []byte, url string, namespaces ...string) {
	t.Helper()
	ctx := context.Background()
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "vault.hashicorp.com",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To(url), CABundle: caPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: namespaces,
			}}},
		}},
	}
	_, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// ensureDefaultSA creates the namespace's default ServiceAccount when no controller-manager
// does it (level 1).
func (c *cluster) ensureDefaultSA(t *testing.T, ns string) {
	_, err := c.client.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

func annotatedPod(name string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "app", Image: "vaultkube.local/vault:dev", ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sleep", "3600"},
			}},
		},
	}
}

// TestInjectorWebhook (level 1): the real apiserver calls our injector; an annotated pod is
// stored mutated, a kube-system pod is stored untouched, a bad template is rejected with the
// annotation named.
func TestInjectorWebhook(t *testing.T) {
	c := getCluster(t)
	ctx := context.Background()
	ns := c.namespace(t, "e2e-inject")
	c.ensureDefaultSA(t, ns)
	caPEM, certFile, keyFile := servingCert(t, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	metricsPort := 30000 + mrand.IntN(10000)
	port := c.startInjectorInNode(t, certFile, keyFile, "--metrics-listen", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	c.webhookConfig(t, "vaultkube-e2e-"+ns, caPEM, fmt.Sprintf("https://127.0.0.1:%d/mutate", port), ns, "kube-system")

	pod := annotatedPod("app", map[string]string{
		"vault.hashicorp.com/agent-inject":                 "true",
		"vault.hashicorp.com/role":                         "app",
		"vault.hashicorp.com/agent-inject-secret-db-creds": "secret/data/db",
	})
	var stored *corev1.Pod
	require.Eventually(t, func() bool {
		var err error
		stored, err = c.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		return err == nil
	}, 30*time.Second, 500*time.Millisecond, "pod creation through the webhook")
	assert.Equal(t, "injected", stored.Annotations["vault.hashicorp.com/agent-inject-status"])
	var names []string
	for _, ic := range stored.Spec.InitContainers {
		names = append(names, ic.Name)
	}
	for _, co := range stored.Spec.Containers {
		names = append(names, co.Name)
	}
	assert.Contains(t, strings.Join(names, ","), "vault-agent", "containers after injection: %v", names)
	var secretsVolume bool
	for _, v := range stored.Spec.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory {
			secretsVolume = true
		}
	}
	assert.True(t, secretsVolume, "a memory emptyDir for /vault/secrets")
	var appMount bool
	for _, m := range stored.Spec.Containers[0].VolumeMounts {
		appMount = appMount || m.MountPath == "/vault/secrets"
	}
	assert.True(t, appMount, "the app container mounts /vault/secrets")

	// A ReplicaSet's pods reach the webhook identical (generateName, no name yet, as the real
	// API server admits them): all injected.
	for range 3 {
		replica := annotatedPod("", pod.Annotations)
		replica.GenerateName = "replica-"
		got, err := c.client.CoreV1().Pods(ns).Create(ctx, replica, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.Equal(t, "injected", got.Annotations["vault.hashicorp.com/agent-inject-status"], got.Name)
		assert.Len(t, got.Spec.InitContainers, 1, "%s: the native agent sidecar", got.Name)
	}
	metrics, err := exec.Command("nsenter", "--net=/run/netns/vaultkube", "curl", "-sSf",
		fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort)).CombinedOutput()
	require.NoError(t, err, "scrape the injector's metrics: %s", metrics)
	// the first pod and the three replicas at least
	m := regexp.MustCompile(`(?m)^vaultkube_injector_injections_total\{namespace="` + regexp.QuoteMeta(ns) + `"\} (\d+)$`).FindStringSubmatch(string(metrics))
	require.NotNil(t, m, "no injections metric for namespace %s in:\n%s", ns, metrics)
	injected, _ := strconv.Atoi(m[1])
	assert.GreaterOrEqual(t, injected, 4, "the pod and its three replicas are counted:\n%s", metrics)

	// kube-system is never mutated, even with the annotations.
	c.ensureDefaultSA(t, "kube-system")
	sys, err := c.client.CoreV1().Pods("kube-system").Create(ctx, annotatedPod("vaultkube-e2e-"+ns, pod.Annotations), metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.client.CoreV1().Pods("kube-system").Delete(context.Background(), sys.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	assert.Len(t, sys.Spec.InitContainers, 0)
	assert.Len(t, sys.Spec.Containers, 1)
	assert.Empty(t, sys.Annotations["vault.hashicorp.com/agent-inject-status"])

	// A template that does not parse is refused by `kubectl apply`, naming the annotation.
	bad := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: bad-template
  namespace: %s
  annotations:
    vault.hashicorp.com/agent-inject: "true"
    vault.hashicorp.com/role: app
    vault.hashicorp.com/agent-inject-secret-cfg: secret/data/cfg
    vault.hashicorp.com/agent-inject-template-cfg: '{{ with secret "secret/data/cfg" }}{{ .Data.data.x }'
spec:
  containers:
  - {name: app, image: vaultkube.local/vault:dev, command: [/bin/sleep, "3600"]}
`, ns)
	out, err := c.kubectl(t, bad, "apply", "-f", "-")
	require.Error(t, err, "a bad template must be denied: %s", out)
	assert.Contains(t, err.Error(), "agent-inject-template-cfg")
	assert.Contains(t, err.Error(), "denied")
}
