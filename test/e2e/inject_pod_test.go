//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// unsealedVault makes sure the in-cluster Vault runs initialised and unsealed (initialising
// it with `kubectl vault init` when needed), with kv-v2 at secret/ and Kubernetes auth; it
// returns the root token.
func (c *cluster) unsealedVault(t *testing.T) string {
	t.Helper()
	if _, err := c.client.AppsV1().StatefulSets("vault").Get(context.Background(), "vault", metav1.GetOptions{}); err != nil {
		_ = os.Remove(c.initFile())
	}
	out, err := c.runScript(t, "test/cluster/vault.sh", "up")
	require.NoError(t, err, out)
	if _, err := os.Stat(c.initFile()); err != nil {
		stdout, stderr, code := c.kubectlVault(t, "", "init", "--key-shares", "3", "--key-threshold", "2", "--keys-out", c.initFile())
		require.Equal(t, 0, code, "init: %s %s", stdout, stderr)
	}
	stdout, stderr, code := c.kubectlVault(t, "", "unseal", "--keys-file", c.initFile())
	require.Equal(t, 0, code, "unseal: %s %s", stdout, stderr)
	root := rootToken(t, c.initFile())
	_, err = c.vaultAsRoot(t, root, `
vault secrets list -format=json | grep -q '"secret/"' || vault secrets enable -path=secret kv-v2 >/dev/null
vault auth list -format=json | grep -q '"kubernetes/"' || vault auth enable kubernetes >/dev/null
vault write auth/kubernetes/config kubernetes_host=https://kubernetes.default.svc >/dev/null`)
	require.NoError(t, err)
	return root
}

// injectorInCluster deploys the injector as a Deployment (test/cluster/injector.sh) and
// returns a namespace that it serves, with a service account "app" that the Vault role
// "<ns>" admits and that may read secret/data/<ns>/*.
func (c *cluster) injectorInCluster(t *testing.T, root string) string {
	t.Helper()
	out, err := c.runScript(t, "test/cluster/injector.sh", "up")
	require.NoError(t, err, out)
	ns := c.namespace(t, "e2e-l2")
	n, err := c.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	require.NoError(t, err)
	n.Labels["vaultkube.io/inject"] = "enabled"
	_, err = c.client.CoreV1().Namespaces().Update(context.Background(), n, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.vaultAsRoot(t, root, fmt.Sprintf(`
printf 'path "secret/data/%[1]s/*" { capabilities = ["read"] }\n' | vault policy write %[1]s - >/dev/null
vault write auth/kubernetes/role/%[1]s bound_service_account_names=app bound_service_account_namespaces=%[1]s token_policies=%[1]s ttl=10m audience=vault >/dev/null
vault kv put secret/%[1]s/db username=e2e-user password=pw-%[1]s >/dev/null`, ns))
	require.NoError(t, err)
	return ns
}

// createPod creates a pod, retrying while the webhook's Service is not reachable yet (kube-proxy
// programs a new endpoint a moment after the injector reports ready).
func (c *cluster) createPod(t *testing.T, ns string, pod *corev1.Pod) {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		_, err = c.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
		return err == nil || !strings.Contains(err.Error(), "failed calling webhook")
	}, 60*time.Second, time.Second)
	require.NoError(t, err)
}

func (c *cluster) waitPodReady(t *testing.T, ns, name string) {
	t.Helper()
	if _, err := c.kubectl(t, "", "-n", ns, "wait", "--for=condition=Ready", "pod/"+name, "--timeout=120s"); err != nil {
		desc, _ := c.kubectl(t, "", "-n", ns, "describe", "pod", name)
		logs, _ := c.kubectl(t, "", "-n", ns, "logs", name, "--all-containers", "--prefix")
		t.Fatalf("pod %s/%s not ready: %v\n%s\n%s", ns, name, err, desc, logs)
	}
}

// TestInjectedAgentRendersSecret (level 2): the injector running in the cluster adds the
// agent; the agent logs in to the in-cluster Vault with Kubernetes auth and the app reads the
// rendered KV v2 secret from /vault/secrets; a Job with the native sidecar completes; env mode
// gives the app the secret as environment variables.
func TestInjectedAgentRendersSecret(t *testing.T) {
	c := getCluster(t)
	c.requireLevel2(t)
	root := c.unsealedVault(t)
	ns := c.injectorInCluster(t, root)
	ctx := context.Background()

	t.Run("file", func(t *testing.T) {
		pod := annotatedPod("app", map[string]string{
			"vault.hashicorp.com/agent-inject":              "true",
			"vault.hashicorp.com/role":                      ns,
			"vault.hashicorp.com/agent-inject-secret-db":    "secret/data/" + ns + "/db",
			"vault.hashicorp.com/agent-inject-template-db":  `{{ with secret "secret/data/` + ns + `/db" }}{{ .Data.data.username }}:{{ .Data.data.password }}{{ end }}`,
			"vault.hashicorp.com/agent-inject-secret-plain": "secret/data/" + ns + "/db",
			"vaultkube.io/agent-token-audience":             "vault",
		})
		pod.Spec.ServiceAccountName = "app"
		c.createPod(t, ns, pod)
		c.waitPodReady(t, ns, "app")
		out, err := c.kubectl(t, "", "-n", ns, "exec", "app", "-c", "app", "--", "/bin/cat", "/vault/secrets/db")
		require.NoError(t, err)
		assert.Equal(t, "e2e-user:pw-"+ns, out)
		// The default (map) template as vault-k8s writes it.
		out, err = c.kubectl(t, "", "-n", ns, "exec", "app", "-c", "app", "--", "/bin/cat", "/vault/secrets/plain")
		require.NoError(t, err)
		assert.Contains(t, out, "username:e2e-user")
		// Nothing secret is stored in the pod spec (etcd).
		stored, err := c.client.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
		require.NoError(t, err)
		raw, _ := stored.Marshal()
		assert.NotContains(t, string(raw), "pw-"+ns)
	})

	t.Run("job-native-sidecar", func(t *testing.T) {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "once"},
			Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To[int32](0),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
						"vault.hashicorp.com/agent-inject":           "true",
						"vault.hashicorp.com/role":                   ns,
						"vault.hashicorp.com/agent-inject-secret-db": "secret/data/" + ns + "/db",
						"vaultkube.io/agent-token-audience":          "vault",
					}},
					Spec: corev1.PodSpec{
						ServiceAccountName: "app",
						RestartPolicy:      corev1.RestartPolicyNever,
						Containers: []corev1.Container{{
							Name: "task", Image: "vaultkube.local/vault:dev", ImagePullPolicy: corev1.PullNever,
							Command: []string{"/bin/grep", "-q", "e2e-user", "/vault/secrets/db"},
						}},
					},
				},
			},
		}
		_, err := c.client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
		require.NoError(t, err)
		var last *batchv1.Job
		require.Eventually(t, func() bool {
			last, err = c.client.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
			return err == nil && (last.Status.Succeeded > 0 || last.Status.Failed > 0)
		}, 150*time.Second, 2*time.Second, "the Job finishes")
		assert.Equal(t, int32(1), last.Status.Succeeded, "the Job completes although the agent sidecar keeps running: %+v", last.Status)
		pods, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=once"})
		require.NoError(t, err)
		require.Len(t, pods.Items, 1)
		var native bool
		for _, ic := range pods.Items[0].Spec.InitContainers {
			native = native || (ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways)
		}
		assert.True(t, native, "the agent runs as a native sidecar")
	})

	t.Run("env", func(t *testing.T) {
		c.checkEnvModePod(t, ns, "secret/data/"+ns+"/db", "e2e-user", "pw-"+ns, func(p *corev1.Pod) {
			p.Annotations["vaultkube.io/agent-token-audience"] = "vault"
		})
	})
}

// checkEnvModePod runs a pod named env in ns, service account app and Vault role ns, in env
// mode with secret db read from path and prefix DB_: the app prints $DB_USERNAME, which must be
// user, and the stored pod must not hold password. adjust changes the pod before it is created.
func (c *cluster) checkEnvModePod(t *testing.T, ns, path, user, password string, adjust func(*corev1.Pod)) {
	t.Helper()
	pod := annotatedPod("env", map[string]string{
		"vault.hashicorp.com/agent-inject":           "true",
		"vault.hashicorp.com/role":                   ns,
		"vault.hashicorp.com/agent-inject-secret-db": path,
		"vaultkube.io/agent-inject-env":              "true",
		"vaultkube.io/env-prefix-db":                 "DB_",
	})
	pod.Spec.ServiceAccountName = "app"
	pod.Spec.Containers[0].Command = []string{"/bin/sh", "-c", `echo "user=$DB_USERNAME"; exec sleep 3600`}
	if adjust != nil {
		adjust(pod)
	}
	c.createPod(t, ns, pod)
	c.waitPodReady(t, ns, "env")
	var logs string
	require.Eventually(t, func() bool {
		logs, _ = c.kubectl(t, "", "-n", ns, "logs", "env", "-c", "app")
		return strings.Contains(logs, "user=")
	}, 30*time.Second, time.Second)
	assert.Contains(t, logs, "user="+user)
	stored, err := c.client.CoreV1().Pods(ns).Get(context.Background(), "env", metav1.GetOptions{})
	require.NoError(t, err)
	raw, err := stored.Marshal()
	require.NoError(t, err)
	assert.NotContains(t, string(raw), password, "env mode writes no secret into the pod spec")
}
