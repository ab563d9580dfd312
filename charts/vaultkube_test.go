// Package charts holds the tests of the Helm chart charts/vaultkube: helm lint --strict and
// helm template for each documented values combination (golden files under
// vaultkube/testdata, refreshed with -update), the values schema, and the helm test pod
// mutated by the real injector code.
package charts

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/vaultkube/vaultkube/injector"
	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under vaultkube/testdata")

const chartDir = "vaultkube"

// helmBin is the helm that hack/helm.sh installs (v4.3.2 in the vaultkube cache).
func helmBin(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("VAULTKUBE_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			require.NoError(t, err)
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "vaultkube")
	}
	bin := filepath.Join(cache, "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm is not installed at %s: run hack/helm.sh (or make chart-lint)", bin)
	}
	return bin
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// no user configuration or repositories: the tests run offline and alike everywhere
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+tmp, "HELM_CACHE_HOME="+tmp, "HELM_DATA_HOME="+tmp)
	err := cmd.Run()
	if err != nil {
		return out.String() + errb.String(), err
	}
	return out.String(), nil
}

// combos are the documented values combinations (values.yaml and the README).
var combos = []struct {
	name string
	set  []string
}{
	{"defaults", nil},
	{"tls-certmanager", []string{"injector.tls.mode=certManager"}},
	{"tls-certmanager-issuer", []string{"injector.tls.mode=certManager", "injector.tls.certManager.issuerRef.name=corp-ca", "injector.tls.certManager.issuerRef.kind=ClusterIssuer"}},
	{"tls-secret", []string{"injector.tls.mode=secret", "injector.tls.secret.name=injector-tls", "injector.tls.secret.caBundle=Q0EK"}},
	{"csi-off", []string{"csi.enabled=false"}},
	{"injector-off", []string{"injector.enabled=false", "csi.providerName=vaultkube"}},
	{"tuned", []string{"injector.replicas=3", "injector.antiAffinity=hard", "injector.metricsPort=9090", "injector.skipNamespaces={ops,batch}",
		"injector.webhook.failurePolicy=Ignore", "injector.webhook.namespaceSelector.matchLabels.team=a", "vault.address=http://vault.vault.svc:8200",
		"csi.vaultCA.configMap=vault-ca", "tests.enabled=false"}},
}

func setArgs(set []string) []string {
	var args []string
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

func TestLintAndTemplate(t *testing.T) {
	for _, tc := range combos {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", chartDir}, setArgs(tc.set)...)...)
			require.NoError(t, err, out)
			assert.Contains(t, out, "0 chart(s) failed")

			got, err := helm(t, append([]string{"template", "rel", chartDir, "--namespace", "vk"}, setArgs(tc.set)...)...)
			require.NoError(t, err, got)
			golden := filepath.Join(chartDir, "testdata", tc.name+".yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "no golden file: go test ./charts/ -update")
			assert.Equal(t, string(want), got, "rendered chart differs from %s (go test ./charts/ -update refreshes it)", golden)
			checkRendered(t, tc.name, got)
		})
	}
}

// checkRendered checks what every combination must hold, beyond the golden files.
func checkRendered(t *testing.T, name, out string) {
	docs := splitDocs(t, out)
	kinds := map[string]int{}
	for _, d := range docs {
		kinds[d["kind"].(string)]++
		spec, _ := d["spec"].(map[string]any)
		tpl, _ := spec["template"].(map[string]any)
		if tpl == nil {
			continue
		}
		podSpec := tpl["spec"].(map[string]any)
		for _, c := range podSpec["containers"].([]any) {
			sc := c.(map[string]any)["securityContext"].(map[string]any)
			assert.Equal(t, false, sc["allowPrivilegeEscalation"], "%s %v", name, d["kind"])
			assert.Equal(t, true, sc["readOnlyRootFilesystem"])
			assert.Equal(t, map[string]any{"drop": []any{"ALL"}}, sc["capabilities"])
			assert.Equal(t, map[string]any{"type": "RuntimeDefault"}, sc["seccompProfile"])
		}
		if d["kind"] == "Deployment" {
			assert.Equal(t, true, podSpec["securityContext"].(map[string]any)["runAsNonRoot"])
		}
	}
	injectorOn, csiOn := name != "injector-off", name != "csi-off"
	assert.Equal(t, b2i(injectorOn), kinds["MutatingWebhookConfiguration"])
	assert.Equal(t, b2i(injectorOn), kinds["Deployment"])
	assert.Equal(t, b2i(csiOn), kinds["DaemonSet"])
	auto := injectorOn && !strings.HasPrefix(name, "tls-")
	assert.Equal(t, b2i(auto), kinds["Role"], "RBAC only for automatic TLS")
	assert.Equal(t, b2i(auto), kinds["ClusterRole"])
	if strings.HasPrefix(name, "tls-certmanager") {
		assert.Contains(t, out, "cert-manager.io/inject-ca-from: vk/rel-vaultkube-injector")
		assert.Contains(t, out, "kind: Certificate")
	}
	if injectorOn {
		assert.Contains(t, out, "--token-audience=vault")
		assert.Contains(t, out, "values:\n        - kube-system\n        - vk", "namespaceSelector excludes kube-system and the release namespace")
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func splitDocs(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, part := range strings.Split(out, "\n---") {
		var d map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(part), &d), part)
		if d != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// TestClusterScopedNamesPerNamespace: two releases of one name in two namespaces get
// distinct cluster-scoped objects, and each injector's RBAC and --auto-tls-webhook-config
// name its own MutatingWebhookConfiguration (uninstalling one must not remove the other's).
func TestClusterScopedNamesPerNamespace(t *testing.T) {
	names := map[string]string{}
	for _, ns := range []string{"team-a", "team-b"} {
		out, err := helm(t, "template", "rel", chartDir, "--namespace", ns)
		require.NoError(t, err, out)
		var mwc, clusterRole string
		for _, d := range splitDocs(t, out) {
			meta := d["metadata"].(map[string]any)
			switch d["kind"] {
			case "MutatingWebhookConfiguration":
				mwc = meta["name"].(string)
			case "ClusterRole":
				clusterRole = meta["name"].(string)
				rule := d["rules"].([]any)[0].(map[string]any)
				assert.Equal(t, []any{"rel-vaultkube-injector-" + ns}, rule["resourceNames"], "ClusterRole of %s", ns)
			}
		}
		assert.Equal(t, "rel-vaultkube-injector-"+ns, mwc)
		assert.Contains(t, out, "--auto-tls-webhook-config="+mwc)
		for _, n := range []string{"MutatingWebhookConfiguration/" + mwc, "ClusterRole/" + clusterRole} {
			require.NotEqual(t, '/', n[len(n)-1], "%s has a name", n)
			assert.Empty(t, names[n], "%s is also rendered for namespace %s", n, names[n])
			names[n] = ns
		}
	}
}

// TestSchemaRejects: wrong types, unknown keys and bad enums fail lint and template alike.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name, set, want string
	}{
		{"unknown top-level key", "bogus=1", "additional properties 'bogus' not allowed"},
		{"unknown nested key", "injector.webhook.failurepolicy=Fail", "additional properties 'failurepolicy' not allowed"},
		{"unknown agent key", "injector.agent.tokenAudiences=vault", "additional properties 'tokenAudiences' not allowed"},
		{"string for integer", "injector.replicas=two", "/injector/replicas"},
		{"string for boolean", "csi.enabled=yes", "/csi/enabled"},
		{"integer for object", "injector.tls=1", "/injector/tls"},
		{"bad tls mode", "injector.tls.mode=manual", "/injector/tls/mode"},
		{"bad failure policy", "injector.webhook.failurePolicy=fail", "/injector/webhook/failurePolicy"},
		{"timeout above 30", "injector.webhook.timeoutSeconds=31", "/injector/webhook/timeoutSeconds"},
		{"vault address without scheme", "vault.address=vault:8200", "/vault/address"},
		{"provider name with a path", "csi.providerName=../vault", "/csi/providerName"},
		{"provider name too long", "csi.providerName=" + strings.Repeat("p", 31), "/csi/providerName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range [][]string{{"lint", "--strict", chartDir}, {"template", "rel", chartDir}} {
				out, err := helm(t, append(cmd, "--set", tc.set)...)
				require.Error(t, err, "helm %s accepted --set %s", cmd[0], tc.set)
				assert.Contains(t, out, tc.want, "helm %s", cmd[0])
			}
		})
	}
	// combinations the schema cannot express fail with a message that names the value
	out, err := helm(t, "template", "rel", chartDir, "--set", "injector.tls.mode=secret")
	require.Error(t, err)
	assert.Contains(t, out, "injector.tls.secret.name")
}

// TestNotes: NOTES.txt warns about a plain http Vault address and shows an annotated pod.
func TestNotes(t *testing.T) {
	out, err := helm(t, "install", "rel", chartDir, "-n", "vk", "--dry-run=client", "--set", "vault.address=http://vault.vault.svc:8200")
	require.NoError(t, err, out)
	notes := out[strings.Index(out, "NOTES:"):]
	assert.Contains(t, notes, "WARNING: vault.address is http://vault.vault.svc:8200: plain http")
	assert.Contains(t, notes, `vault.hashicorp.com/agent-inject: "true"`)
	assert.Contains(t, notes, "kind: SecretProviderClass")

	out, err = helm(t, "install", "rel", chartDir, "-n", "vk", "--dry-run=client")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "WARNING")
}

// TestHelmTestPod runs the chart's helm test pod through the injector's own Mutate with the
// chart's defaults: it must come back with the secrets volume in the check container and the
// sidecar turned into the same check (no Vault needed); unmutated, the check has no path.
func TestHelmTestPod(t *testing.T) {
	out, err := helm(t, "template", "rel", chartDir, "-n", "vk", "--show-only", "templates/tests/webhook-test.yaml")
	require.NoError(t, err, out)
	var podDoc map[string]any
	for _, d := range splitDocs(t, out) {
		if d["kind"] == "Pod" {
			podDoc = d
		}
	}
	require.NotNil(t, podDoc, "no test pod")
	raw, err := json.Marshal(podDoc)
	require.NoError(t, err)
	var pod corev1.Pod
	require.NoError(t, json.Unmarshal(raw, &pod))
	assert.Equal(t, "vk-vaultkube-test", pod.Namespace, "outside the release namespace, which the webhook never sees")

	cfg := injector.DefaultConfig()
	cfg.AgentImage = "vaultkube/vaultkube:dev"
	cfg.AgentBinary = "/vaultkube-agent"
	cfg.VaultAddress = "https://vault.vault.svc:8200"
	out2, warnings, err := injector.Mutate(&pod, cfg)
	require.NoError(t, err, "warnings: %v", warnings)
	require.NotSame(t, &pod, out2, "not mutated")
	check := []string{"/vaultkube-agent", "agent", "probe", "--ready-file", "/vault/secrets"}
	var app, sidecar *corev1.Container
	for i := range out2.Spec.Containers {
		c := &out2.Spec.Containers[i]
		if c.Name == "check" {
			app = c
		} else {
			sidecar = c
		}
	}
	require.NotNil(t, app)
	require.NotNil(t, sidecar, "no classic sidecar injected")
	assert.Empty(t, out2.Spec.InitContainers, "agent-pre-populate false: no init agent that would need Vault")
	mounted := func(c *corev1.Container) bool {
		for _, m := range c.VolumeMounts {
			if m.MountPath == "/vault/secrets" {
				return true
			}
		}
		return false
	}
	assert.True(t, mounted(app), "the check container gets the secrets volume")
	assert.Equal(t, check, app.Command)
	assert.Equal(t, check, sidecar.Command, "the sidecar runs the check instead of logging in to Vault")
	assert.Empty(t, sidecar.Args)
	assert.False(t, mounted(&pod.Spec.Containers[0]), "unmutated, /vault/secrets does not exist")
}
