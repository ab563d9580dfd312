//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// helmBinary returns the helm v4 binary that hack/helm.sh installs ($VAULTKUBE_HELM wins).
func (c *cluster) helmBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("VAULTKUBE_HELM")
	if bin == "" {
		bin = filepath.Join(c.bin, "helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("SKIPPED LOUDLY: no helm binary at %s (%v): install helm v4 with `hack/helm.sh` (or `make chart-lint`), or set VAULTKUBE_HELM", bin, err)
	}
	return bin
}

// helm runs the real helm against the cluster, with its cache, config and data in a
// temporary directory.
func (c *cluster) helm(t *testing.T, bin, home string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// restrictedNamespace creates a namespace enforcing the restricted Pod Security profile, with
// extra labels, and deletes it afterwards.
func (c *cluster) restrictedNamespace(t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	l := map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	for k, v := range labels {
		l[k] = v
	}
	ns, err := c.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-", Labels: l},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// restrictedApp is the securityContext of an app container that restricted Pod Security admits.
func restrictedApp() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](1000),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// TestHelmChart (level 2): `helm install` of charts/vaultkube into a namespace with restricted
// Pod Security (real admission accepts the injector pods); the chart's webhook, limited to the
// test's app namespace (also restricted, so the injected agent passes it too), makes an agent
// render a KV v2 secret from the in-cluster Vault into a file and into env-mode variables;
// `helm test` passes; `helm uninstall` leaves no MutatingWebhookConfiguration behind.
func TestHelmChart(t *testing.T) {
	c := getCluster(t)
	c.requireLevel2(t)
	helmBin := c.helmBinary(t)
	chart, err := filepath.Abs("../../charts/vaultkube")
	require.NoError(t, err)
	ctx := context.Background()
	home := t.TempDir()
	start := time.Now()
	defer func() { t.Logf("TestHelmChart took %s", time.Since(start).Round(time.Second)) }()

	root := c.unsealedVault(t)

	release := "vkc-" + randomToken(t)[len("root-"):][:8]
	// The only namespaces the webhook may mutate carry this label: the app namespace, and the
	// helm test namespace (the chart gives it the namespaceSelector's matchLabels).
	const selKey = "e2e.vaultkube.io/helm-release"
	relNS := c.restrictedNamespace(t, "e2e-helm", nil)
	appNS := c.restrictedNamespace(t, "e2e-helm-app", map[string]string{selKey: release})
	testNS := relNS + "-vaultkube-test" // the chart's default tests.namespace
	// The helm test hook's namespace is not part of the release: helm uninstall keeps it.
	t.Cleanup(func() {
		_ = c.client.CoreV1().Namespaces().Delete(context.Background(), testNS, metav1.DeleteOptions{})
	})

	values := map[string]any{
		"image": map[string]any{"repository": "vaultkube.local/vaultkube", "tag": "dev", "pullPolicy": "Never"},
		"vault": map[string]any{"address": "http://vault.vault.svc:8200"},
		"injector": map[string]any{
			"tls":     map[string]any{"mode": "auto"},
			"webhook": map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{selKey: release}}},
		},
		// test/cluster/csi.sh's provider DaemonSet already serves vault.sock on this node.
		"csi": map[string]any{"enabled": false},
	}
	raw, err := json.Marshal(values)
	require.NoError(t, err)
	valuesFile := filepath.Join(t.TempDir(), "values.json")
	require.NoError(t, os.WriteFile(valuesFile, raw, 0o600))

	uninstalled := false
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := c.kubectl(t, "", "-n", relNS, "logs", "-l", "app.kubernetes.io/component=injector", "--all-containers", "--prefix", "--tail=50")
			ev, _ := c.kubectl(t, "", "-n", relNS, "get", "events", "--sort-by=.lastTimestamp")
			t.Logf("injector logs:\n%s\nevents in %s:\n%s", logs, relNS, ev)
		}
		if !uninstalled {
			out, err := c.helm(t, helmBin, home, "uninstall", release, "-n", relNS, "--wait", "--timeout", "2m")
			if err != nil {
				t.Logf("cleanup: %v\n%s", err, out)
			}
		}
	})
	installStart := time.Now()
	out, err := c.helm(t, helmBin, home, "install", release, chart, "-n", relNS, "-f", valuesFile, "--wait", "--timeout", "3m")
	require.NoError(t, err, out)
	t.Logf("helm install --wait took %s", time.Since(installStart).Round(time.Second))

	// Real Pod Security admission accepted the injector pods (restricted namespace).
	pods, err := c.client.CoreV1().Pods(relNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release + ",app.kubernetes.io/component=injector"})
	require.NoError(t, err)
	require.NotEmpty(t, pods.Items, "injector pods in the restricted namespace %s", relNS)
	for _, p := range pods.Items {
		assert.Equal(t, corev1.PodRunning, p.Status.Phase, "injector pod %s", p.Name)
	}
	// The webhook of the release only selects the labelled namespaces.
	mwcs, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	require.NoError(t, err)
	require.Len(t, mwcs.Items, 1)
	for _, w := range mwcs.Items[0].Webhooks {
		require.NotNil(t, w.NamespaceSelector)
		assert.Equal(t, release, w.NamespaceSelector.MatchLabels[selKey], "webhook %s selects only the test's namespaces", w.Name)
	}

	// Vault: a policy, a KV v2 secret and a Kubernetes auth role (audience vault, the chart's
	// default token audience) for service account app in the app namespace.
	_, err = c.client.CoreV1().ServiceAccounts(appNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = c.vaultAsRoot(t, root, fmt.Sprintf(`
printf 'path "secret/data/%[1]s/*" { capabilities = ["read"] }\n' | vault policy write %[1]s - >/dev/null
vault write auth/kubernetes/role/%[1]s bound_service_account_names=app bound_service_account_namespaces=%[1]s token_policies=%[1]s ttl=10m audience=vault >/dev/null
vault kv put secret/%[1]s/db username=helm-user password=pw-%[1]s >/dev/null`, appNS))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = c.vaultAsRoot(t, root, fmt.Sprintf(`
vault kv metadata delete secret/%[1]s/db >/dev/null
vault delete auth/kubernetes/role/%[1]s >/dev/null
vault policy delete %[1]s >/dev/null`, appNS))
	})

	t.Run("file", func(t *testing.T) {
		pod := annotatedPod("app", map[string]string{
			"vault.hashicorp.com/agent-inject":             "true",
			"vault.hashicorp.com/role":                     appNS,
			"vault.hashicorp.com/agent-inject-secret-db":   "secret/data/" + appNS + "/db",
			"vault.hashicorp.com/agent-inject-template-db": `{{ with secret "secret/data/` + appNS + `/db" }}{{ .Data.data.username }}:{{ .Data.data.password }}{{ end }}`,
		})
		pod.Spec.ServiceAccountName = "app"
		pod.Spec.Containers[0].SecurityContext = restrictedApp()
		c.createPod(t, appNS, pod)
		c.waitPodReady(t, appNS, "app")
		out, err := c.kubectl(t, "", "-n", appNS, "exec", "app", "-c", "app", "--", "/bin/cat", "/vault/secrets/db")
		require.NoError(t, err)
		assert.Equal(t, "helm-user:pw-"+appNS, out)
		stored, err := c.client.CoreV1().Pods(appNS).Get(ctx, "app", metav1.GetOptions{})
		require.NoError(t, err)
		assert.Greater(t, len(stored.Spec.InitContainers)+len(stored.Spec.Containers), 1, "the chart's webhook added the agent")
	})

	t.Run("env", func(t *testing.T) {
		c.checkEnvModePod(t, appNS, "secret/data/"+appNS+"/db", "helm-user", "pw-"+appNS, func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = restrictedApp()
		})
	})

	t.Run("helm-test", func(t *testing.T) {
		// Without --logs: the test pod's hook-delete-policy hook-succeeded removes it before
		// helm v4.3.2 reads its logs, and `helm test --logs` then fails a passing test.
		out, err := c.helm(t, helmBin, home, "test", release, "-n", relNS, "--timeout", "2m")
		require.NoError(t, err, out)
		t.Logf("helm test:\n%s", out)
	})

	// helm upgrade rolls the injector (a pod annotation changes its template) while pods keep
	// being created (server-side dry run: admission runs in full, nothing is stored); every
	// admission must succeed and come back mutated.
	t.Run("upgrade-under-load", func(t *testing.T) {
		sel := "app.kubernetes.io/instance=" + release + ",app.kubernetes.io/component=injector"
		before := c.podNames(t, relNS, sel)
		require.NotEmpty(t, before)
		loadPod := annotatedPod("load", map[string]string{
			"vault.hashicorp.com/agent-inject":           "true",
			"vault.hashicorp.com/role":                   appNS,
			"vault.hashicorp.com/agent-inject-secret-db": "secret/data/" + appNS + "/db",
		})
		loadPod.Spec.Containers[0].SecurityContext = restrictedApp()
		load := c.startAdmissionLoad(t, appNS, loadPod)
		time.Sleep(2 * time.Second) // some admissions before the rollout starts
		out, err := c.helm(t, helmBin, home, "upgrade", release, chart, "-n", relNS, "-f", valuesFile,
			"--set-string", "injector.podAnnotations.e2e-rollout="+time.Now().UTC().Format("150405"), "--wait", "--timeout", "3m")
		require.NoError(t, err, out)
		// Past the old pods' shutdownDelay (5s) and termination, with load still running.
		require.Eventually(t, func() bool {
			now := c.podNames(t, relNS, sel)
			for _, p := range now {
				if slices.Contains(before, p) {
					return false
				}
			}
			return len(now) > 0
		}, 90*time.Second, time.Second, "the upgrade replaced the injector pods %v", before)
		time.Sleep(8 * time.Second)
		st := load.stop()
		t.Logf("admissions during helm upgrade: %d, failed %d, not mutated %d (pods before %v, after %v)",
			st.total, st.failed, st.unmutated, before, c.podNames(t, relNS, sel))
		assert.Greater(t, st.total, 40, "enough admissions ran across the rollout")
		assert.Zero(t, st.failed, "failed admissions during helm upgrade; first errors: %v", st.errors)
		assert.Zero(t, st.unmutated, "admissions that came back without the agent during helm upgrade")
	})

	// The chart's CSI provider, in a release of its own (its DaemonSet needs a hostPath and
	// root, which the restricted release namespace refuses) under its own provider name beside
	// test/cluster/csi.sh's `vault`: the real driver calls it for a pod's CSI volume.
	t.Run("csi", func(t *testing.T) {
		csiNS := c.namespace(t, "e2e-helm-csi")
		provider := "vk-" + release
		csiRelease := release + "-csi"
		out, err := c.helm(t, helmBin, home, "install", csiRelease, chart, "-n", csiNS, "--wait", "--timeout", "3m",
			"--set", "injector.enabled=false", "--set", "csi.providerName="+provider,
			"--set", "image.repository=vaultkube.local/vaultkube", "--set", "image.tag=dev", "--set", "image.pullPolicy=Never",
			"--set", "vault.address=http://vault.vault.svc:8200")
		require.NoError(t, err, out)
		csiUninstalled := false
		t.Cleanup(func() {
			if !csiUninstalled {
				_, _ = c.helm(t, helmBin, home, "uninstall", csiRelease, "-n", csiNS, "--wait", "--timeout", "2m")
			}
		})
		spc := fmt.Sprintf(`apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata: {name: chart-db, namespace: %[1]s}
spec:
  provider: %[2]s
  parameters:
    roleName: %[1]s
    audience: vault
    objects: |
      - objectName: username
        secretPath: secret/data/%[1]s/db
        secretKey: username
`, appNS, provider)
		out, err = c.kubectl(t, spc, "apply", "-f", "-")
		require.NoError(t, err, out)
		pod := csiPod("csi", "chart-db")
		pod.Spec.Containers[0].SecurityContext = restrictedApp()
		c.createPod(t, appNS, pod)
		c.waitPodReady(t, appNS, "csi")
		got, err := c.kubectl(t, "", "-n", appNS, "exec", "csi", "--", "/bin/cat", "/mnt/secrets/username")
		require.NoError(t, err)
		assert.Equal(t, "helm-user", got, "the chart's provider %q served the volume", provider)

		// The provider removes its socket when it stops: uninstall leaves nothing on the node.
		sock := "/var/run/secrets-store-csi-providers/" + provider + ".sock"
		_, err = os.Stat(sock)
		require.NoError(t, err, "the chart's provider serves %s", sock)
		out, err = c.helm(t, helmBin, home, "uninstall", csiRelease, "-n", csiNS, "--wait", "--timeout", "2m")
		require.NoError(t, err, out)
		csiUninstalled = true
		require.Eventually(t, func() bool {
			_, err := os.Stat(sock)
			return os.IsNotExist(err)
		}, 30*time.Second, time.Second, "%s removed after helm uninstall", sock)
	})

	// An unlabelled namespace is none of the release's business: a pod there stays unmutated.
	t.Run("other-namespace-untouched", func(t *testing.T) {
		other := c.restrictedNamespace(t, "e2e-helm-other", nil)
		c.ensureDefaultSA(t, other)
		pod := annotatedPod("other", map[string]string{"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "none"})
		pod.Spec.Containers[0].SecurityContext = restrictedApp()
		created, err := c.client.CoreV1().Pods(other).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
		assert.Len(t, created.Spec.Containers, 1)
		assert.Empty(t, created.Spec.InitContainers)
	})

	// helm uninstall leaves no MutatingWebhookConfiguration of the release, not even a moment
	// later (the stopping injectors only ever update it).
	out, err = c.helm(t, helmBin, home, "uninstall", release, "-n", relNS, "--wait", "--timeout", "2m")
	require.NoError(t, err, out)
	uninstalled = true
	for i := 0; i < 2; i++ {
		all, err := c.client.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, m := range all.Items {
			assert.NotEqual(t, release, m.Labels["app.kubernetes.io/instance"], "MutatingWebhookConfiguration %s left behind", m.Name)
			assert.NotContains(t, m.Name, release, "MutatingWebhookConfiguration %s left behind", m.Name)
		}
		if i == 0 {
			time.Sleep(8 * time.Second) // past the injector's shutdownDelay
		}
	}
	// A passing helm test removes its namespace (hook-succeeded).
	require.Eventually(t, func() bool {
		n, err := c.client.CoreV1().Namespaces().Get(ctx, testNS, metav1.GetOptions{})
		return err != nil || n.DeletionTimestamp != nil
	}, 30*time.Second, time.Second, "the helm test namespace %s is removed after a passing test", testNS)
}

// podNames lists the names of the pods in ns that match selector.
func (c *cluster) podNames(t *testing.T, ns, selector string) []string {
	t.Helper()
	pods, err := c.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	require.NoError(t, err)
	var names []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	return names
}

// admissionLoad creates a pod again and again as a server-side dry run (admission webhooks
// run, nothing is stored) and counts the outcomes.
type admissionLoad struct {
	done  chan struct{}
	wg    sync.WaitGroup
	stats admissionStats
}

type admissionStats struct {
	total, failed, unmutated int
	errors                   []string // the first few
}

func (c *cluster) startAdmissionLoad(t *testing.T, ns string, pod *corev1.Pod) *admissionLoad {
	t.Helper()
	l := &admissionLoad{done: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			got, err := c.client.CoreV1().Pods(ns).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			cancel()
			l.stats.total++
			switch {
			case err != nil:
				l.stats.failed++
				if len(l.stats.errors) < 5 {
					l.stats.errors = append(l.stats.errors, time.Now().Format("15:04:05.000")+" "+err.Error())
				}
			case len(got.Spec.InitContainers)+len(got.Spec.Containers) < 2:
				l.stats.unmutated++
			}
		}
	}()
	t.Cleanup(func() { l.stop() })
	return l
}

// stop ends the load (once) and returns its counts.
func (l *admissionLoad) stop() admissionStats {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	return l.stats
}
