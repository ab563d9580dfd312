//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// csiPod is a pod with a secrets-store CSI volume of class spc at /mnt/secrets.
func csiPod(name, spc string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName:            "app",
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "app", Image: "vaultkube.local/vault:dev", ImagePullPolicy: corev1.PullNever,
				Command:      []string{"/bin/sleep", "3600"},
				VolumeMounts: []corev1.VolumeMount{{Name: "secrets", MountPath: "/mnt/secrets", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "secrets", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
				Driver: "secrets-store.csi.k8s.io", ReadOnly: ptr.To(true),
				VolumeAttributes: map[string]string{"secretProviderClass": spc},
			}}}},
		},
	}
}

// TestCSIProviderMountsVaultSecrets (level 2): the real secrets-store-csi-driver calls the
// vaultkube provider, which logs in to the in-cluster Vault with the pod's token (audience
// vault) and returns KV v2 files, a PKI certificate (PUT), a leased answer whose lease stays
// the same across rotation polls, a consul-template file and a Kubernetes Secret synced by
// the driver for a second pod's environment; a KV change reaches the file at a poll; a bad
// SecretProviderClass leaves its pod in ContainerCreating with an event naming object and
// field.
func TestCSIProviderMountsVaultSecrets(t *testing.T) {
	c := getCluster(t)
	c.requireLevel2(t)
	root := c.unsealedVault(t)
	out, err := c.runScript(t, "test/cluster/csi.sh", "provider")
	require.NoError(t, err, out)
	ctx := context.Background()
	ns := c.namespace(t, "e2e-csi")
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.vaultAsRoot(t, root, fmt.Sprintf(`
vault secrets list -format=json | grep -q '"pki/"' || { vault secrets enable pki >/dev/null && vault secrets tune -max-lease-ttl=8760h pki >/dev/null && vault write pki/root/generate/internal common_name=e2e.local ttl=8760h >/dev/null; }
vault write pki/roles/%[1]s allowed_domains=svc allow_subdomains=true max_ttl=1h generate_lease=true >/dev/null
printf 'path "secret/data/%[1]s/*" { capabilities = ["read"] }\npath "pki/issue/%[1]s" { capabilities = ["update"] }\n' | vault policy write %[1]s - >/dev/null
vault write auth/kubernetes/role/csi-%[1]s bound_service_account_names=app bound_service_account_namespaces=%[1]s token_policies=%[1]s ttl=10m audience=vault >/dev/null
vault kv put secret/%[1]s/db username=csi-user password=pw-%[1]s >/dev/null`, ns))
	require.NoError(t, err)

	spc := fmt.Sprintf(`apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: vault-db, namespace: %[1]s}
spec:
  provider: vault
  secretObjects:
  - secretName: db-synced
    type: Opaque
    data: [{objectName: username, key: username}]
  parameters:
    vaultAddress: http://vault.vault.svc:8200
    roleName: csi-%[1]s
    audience: vault
    objects: |
      - objectName: username
        secretPath: secret/data/%[1]s/db
        secretKey: username
      - objectName: db/password
        secretPath: secret/data/%[1]s/db
        secretKey: password
        filePermission: 0600
      - objectName: tls.crt
        secretPath: pki/issue/%[1]s
        method: PUT
        secretArgs: {common_name: web.%[1]s.svc, ttl: 30m}
        secretKey: certificate
      - objectName: leased.json
        secretPath: pki/issue/%[1]s
        method: PUT
        secretArgs: {common_name: web.%[1]s.svc, ttl: 30m}
      - objectName: db.env
        vaultkube.io/template: |
          {{- with secret "secret/data/%[1]s/db" }}DB_USER={{ .Data.data.username }}{{ end }}
---
apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: bad, namespace: %[1]s}
spec:
  provider: vault
  parameters:
    vaultAddress: http://vault.vault.svc:8200
    roleName: csi-%[1]s
    audience: vault
    objects: |
      - objectName: broken
        secretPath: secret/data/%[1]s/db
        encoding: rot13
`, ns)
	out, err = c.kubectl(t, spc, "apply", "-f", "-")
	require.NoError(t, err, out)

	c.createPod(t, ns, csiPod("app", "vault-db"))
	c.waitPodReady(t, ns, "app")
	cat := func(file string) string {
		t.Helper()
		o, err := c.kubectl(t, "", "-n", ns, "exec", "app", "--", "/bin/cat", "/mnt/secrets/"+file)
		require.NoError(t, err)
		return o
	}
	assert.Equal(t, "csi-user", cat("username"))
	assert.Equal(t, "pw-"+ns, cat("db/password"))
	assert.Contains(t, cat("tls.crt"), "BEGIN CERTIFICATE")
	assert.Equal(t, "DB_USER=csi-user", strings.TrimSpace(cat("db.env")))
	mode, err := c.kubectl(t, "", "-n", ns, "exec", "app", "--", "/bin/stat", "-L", "-c", "%a", "/mnt/secrets/db/password")
	require.NoError(t, err)
	assert.Equal(t, "600", strings.TrimSpace(mode))
	var leased struct {
		LeaseID string `json:"lease_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(cat("leased.json")), &leased))
	require.NotEmpty(t, leased.LeaseID, "the PKI role generates leases")
	firstCert := cat("tls.crt")

	// The driver syncs the Kubernetes Secret; a second pod takes it as environment.
	require.Eventually(t, func() bool {
		s, err := c.client.CoreV1().Secrets(ns).Get(ctx, "db-synced", metav1.GetOptions{})
		return err == nil && string(s.Data["username"]) == "csi-user"
	}, 60*time.Second, time.Second, "the synced Secret db-synced")
	envPod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "env"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "app", Image: "vaultkube.local/vault:dev", ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/sh", "-c", `echo "user=$DB_USER"; exec sleep 3600`},
				Env: []corev1.EnvVar{{Name: "DB_USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "db-synced"}, Key: "username"}}}},
			}},
		},
	}
	c.createPod(t, ns, envPod)
	c.waitPodReady(t, ns, "env")
	require.Eventually(t, func() bool {
		logs, _ := c.kubectl(t, "", "-n", ns, "logs", "env")
		return strings.Contains(logs, "user=csi-user")
	}, 30*time.Second, time.Second)

	// A KV change reaches the file at a rotation poll; the leased answer and the certificate
	// stay the same across it (no new lease, no new certificate per poll).
	_, err = c.vaultAsRoot(t, root, fmt.Sprintf(`vault kv put secret/%[1]s/db username=csi-user-2 password=pw-%[1]s >/dev/null`, ns))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		o, _ := c.kubectl(t, "", "-n", ns, "exec", "app", "--", "/bin/cat", "/mnt/secrets/username")
		return o == "csi-user-2"
	}, 150*time.Second, 2*time.Second, "the KV change reaches the file")
	var after struct {
		LeaseID string `json:"lease_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(cat("leased.json")), &after))
	assert.Equal(t, leased.LeaseID, after.LeaseID, "the same lease across rotation polls")
	assert.Equal(t, firstCert, cat("tls.crt"), "the same certificate across rotation polls")
	assert.Equal(t, "DB_USER=csi-user-2", strings.TrimSpace(cat("db.env")))

	// Nothing secret is in the pod spec or the SecretProviderClassPodStatus (etcd), only
	// keyed-hash versions.
	st, err := c.kubectl(t, "", "-n", ns, "get", "secretproviderclasspodstatuses", "-o", "json")
	require.NoError(t, err)
	assert.Contains(t, st, `"objects"`)
	assert.NotContains(t, st, "pw-"+ns)
	assert.NotContains(t, st, "csi-user")

	// A bad class: the pod waits in ContainerCreating; the event names object and field.
	c.createPod(t, ns, csiPod("bad", "bad"))
	var msg string
	require.Eventually(t, func() bool {
		evs, err := c.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=bad"})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.Reason == "FailedMount" && strings.Contains(e.Message, "broken") {
				msg = e.Message
				return true
			}
		}
		return false
	}, 90*time.Second, 2*time.Second, "a FailedMount event for pod bad")
	assert.Contains(t, msg, "object broken")
	assert.Contains(t, msg, "encoding")
	p, err := c.client.CoreV1().Pods(ns).Get(ctx, "bad", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, p.Status.ContainerStatuses)
	require.NotNil(t, p.Status.ContainerStatuses[0].State.Waiting)
	assert.Equal(t, "ContainerCreating", p.Status.ContainerStatuses[0].State.Waiting.Reason)
}
