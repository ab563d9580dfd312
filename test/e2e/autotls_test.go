//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestInjectorAutoTLS (level 2): two injector replicas without certificate files elect a
// leader that makes a CA and a serving certificate in a Secret and patches the caBundle of
// the MutatingWebhookConfiguration; the real API server then trusts the webhook and an
// annotated pod is stored mutated.
func TestInjectorAutoTLS(t *testing.T) {
	c := getCluster(t)
	c.requireLevel2(t)
	ctx := context.Background()
	ns := c.namespace(t, "e2e-autotls")
	target := c.namespace(t, "e2e-autotls-pods")
	c.ensureDefaultSA(t, target)
	mwc := "vaultkube-e2e-" + ns
	manifest := fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: injector, namespace: %[1]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: injector, namespace: %[1]s}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get, list, watch, create, update, patch]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, list, watch, create, update, patch]}
- {apiGroups: [""], resources: [events], verbs: [create, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: injector, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: injector}
subjects: [{kind: ServiceAccount, name: injector, namespace: %[1]s}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %[2]s}
rules:
- {apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [get, list, watch, update, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: %[2]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[2]s}
subjects: [{kind: ServiceAccount, name: injector, namespace: %[1]s}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: injector, namespace: %[1]s}
spec:
  replicas: 2
  selector: {matchLabels: {app: injector}}
  template:
    metadata: {labels: {app: injector}}
    spec:
      serviceAccountName: injector
      containers:
      - name: injector
        image: vaultkube.local/vaultkube:dev
        imagePullPolicy: Never
        command: [/vaultkube]
        args: [injector, --listen=:8443, --vault-address=http://vault.vault.svc:8200,
               --agent-image=vaultkube.local/vaultkube:dev, --auto-tls-namespace=%[1]s,
               --auto-tls-service=injector, --auto-tls-webhook-config=%[2]s]
        readinessProbe: {httpGet: {path: /readyz, port: 8443, scheme: HTTPS}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: injector, namespace: %[1]s}
spec:
  selector: {app: injector}
  ports: [{port: 443, targetPort: 8443}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: %[2]s}
webhooks:
- name: vault.hashicorp.com
  clientConfig:
    service: {name: injector, namespace: %[1]s, path: /mutate}
  rules: [{operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}]
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: %[3]s}
`, ns, mwc, target)
	t.Cleanup(func() {
		_, _ = c.kubectl(t, "", "delete", "mutatingwebhookconfiguration,clusterrole,clusterrolebinding", mwc, "--ignore-not-found")
	})
	out, err := c.kubectl(t, manifest, "apply", "-f", "-")
	require.NoError(t, err, out)

	// The leader writes the CA into the webhook configuration.
	require.Eventually(t, func() bool {
		w, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, mwc, metav1.GetOptions{})
		return err == nil && len(w.Webhooks) == 1 && len(w.Webhooks[0].ClientConfig.CABundle) > 0
	}, 120*time.Second, time.Second, "caBundle patched into %s", mwc)
	sec, err := c.client.CoreV1().Secrets(ns).Get(ctx, "vaultkube-injector-tls", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, sec.Data)
	_, err = c.kubectl(t, "", "-n", ns, "rollout", "status", "deploy/injector", "--timeout=120s")
	require.NoError(t, err, "both replicas serve with the certificate from the Secret")

	pod := annotatedPod("app", map[string]string{
		"vault.hashicorp.com/agent-inject":             "true",
		"vault.hashicorp.com/role":                     "app",
		"vault.hashicorp.com/agent-inject-secret-conf": "secret/data/conf",
	})
	var stored = pod
	require.Eventually(t, func() bool {
		s, err := c.client.CoreV1().Pods(target).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			stored = s
		}
		return err == nil
	}, 60*time.Second, time.Second, "the API server trusts the webhook's certificate")
	assert.Equal(t, "injected", stored.Annotations["vault.hashicorp.com/agent-inject-status"])
}
