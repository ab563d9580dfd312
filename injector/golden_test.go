package injector

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

type goldenCase struct {
	name    string
	fixture string
	ann     map[string]string
	cfg     func(*Config)
	edit    func(*corev1.Pod)
}

var goldenCases = []goldenCase{
	{name: "classic-sidecar", fixture: "web", ann: basic()},
	{name: "native-sidecar", fixture: "web", ann: basic(
		AnnTemplate+"-db", `{{ with secret "secret/data/db" }}postgres://{{ .Data.data.user }}:{{ .Data.data.password }}@db/app{{ end }}`,
		AnnInitFirst, "true",
	), cfg: func(c *Config) { c.NativeSidecar, c.ServerVersion = NativeAuto, "v1.37.2" }},
	{name: "prepopulate-only-files", fixture: "web", ann: basic(
		AnnPrePopulateOnly, "true",
		AnnFile+"-db", "config/db.env",
		AnnPerms+"-db", "0400",
		AnnSecretVolumePath+"-api", "/etc/api",
		AnnSecret+"-TLS-Cert", "pki/issue/web",
		AnnPreserveSecretCase+"-TLS-Cert", "true",
		AnnTemplate+"-TLS-Cert", `[[ with pkiCert "pki/issue/web" "common_name=web.app.svc" ]][[ .Cert ]][[ end ]]`,
		AnnLeftDelim+"-TLS-Cert", "[[",
		AnnRightDelim+"-TLS-Cert", "]]",
		AnnCommand+"-db", "/etc/api/reload --signal 'HUP'", // on a volume the agent mounts
	)},
	{name: "job-no-automount-tls", fixture: "job-no-automount", ann: map[string]string{
		AnnInject:          "true",
		AnnRole:            "migrate",
		AnnSecret + "-db":  "database/creds/migrate",
		AnnTLSSecret:       "vault-tls",
		AnnCACert:          "/vault/tls/ca.crt",
		AnnExtraSecret:     "migrate-extra",
		AnnInjectToken:     "true",
		AnnRunAsSameUser:   "true",
		AnnLimitsMem:       "64Mi",
		AnnRequestsMem:     "32Mi",
		AnnDefaultTemplate: "json",
		AnnNamespace:       "team-a",
		AnnAuthPath:        "auth/k8s-prod",
		AnnService:         "https://vault.example.com:8200",
		ExtTokenAudience:   "vault",
		AnnGoMaxProcs:      "1",
	}, cfg: func(c *Config) { c.NativeSidecar, c.ServerVersion = NativeAuto, "v1.37.2" }},
	{name: "init-first-before-existing-init", fixture: "job-no-automount", ann: basic(AnnInitFirst, "true", AnnRole, "migrate"),
		cfg: func(c *Config) { c.NativeSidecar, c.ServerVersion = NativeAuto, "v1.28.0" }},
	{name: "env-mode", fixture: "web", ann: basic(
		ExtInjectEnv, "true",
		ExtEnvPrefix+"-api", "API_",
	)},
	{name: "reinject-status-update", fixture: "web", ann: basic(AnnStatus, "update"), edit: func(p *corev1.Pod) {
		// a pod injected earlier: injecting again must not duplicate anything
		prev, _, err := Mutate(deepCopyPod(p), testConfig())
		if err != nil {
			panic(err)
		}
		*p = *prev
		p.Annotations[AnnStatus] = "update"
	}},
}

func TestGoldenPatches(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			pod, out := mutateCase(t, tc)
			ops, err := Patch(pod, out)
			require.NoError(t, err)
			// as the webhook sends it
			encoded, err := json.Marshal(ops)
			require.NoError(t, err)
			var indented bytes.Buffer
			require.NoError(t, json.Indent(&indented, encoded, "", "  "))
			got := append(indented.Bytes(), '\n')
			golden := filepath.Join("testdata", "golden", tc.name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to create the golden file")
			assert.JSONEq(t, string(want), string(got))

			// The patch applied to the request's pod gives exactly the mutated pod.
			assertPatchApplies(t, pod, out, got)
			assertOnlyNewValues(t, pod, ops)
		})
	}
}

// mutateCase loads and mutates a case's pod, checking what every case must hold.
func mutateCase(t *testing.T, tc goldenCase) (pod, out *corev1.Pod) {
	t.Helper()
	pod = loadPod(t, tc.fixture, tc.ann)
	if tc.edit != nil {
		tc.edit(pod)
	}
	cfg := testConfig()
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	before := podText(pod)
	out, warnings, err := Mutate(pod, cfg)
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.JSONEq(t, before, podText(pod), "Mutate must not modify its input")
	assert.Empty(t, podProblems(out))
	return pod, out
}

func assertPatchApplies(t testing.TB, before, after *corev1.Pod, patch []byte) {
	t.Helper()
	p, err := jsonpatch5.DecodePatch(patch)
	require.NoError(t, err)
	raw, err := json.Marshal(before)
	require.NoError(t, err)
	patched, err := p.Apply(raw)
	require.NoError(t, err)
	var got corev1.Pod
	require.NoError(t, json.Unmarshal(patched, &got))
	assert.JSONEq(t, podText(after), podText(&got))
}

// elementPath is the path of a whole container or volume.
var elementPath = regexp.MustCompile(`^/spec/(containers|initContainers|volumes)(/\d+)?$`)

// assertOnlyNewValues checks that the patch only adds and removes, and that no value is
// an existing container, volume or annotation map written out again.
func assertOnlyNewValues(t testing.TB, before *corev1.Pod, ops []Operation) {
	t.Helper()
	existing := map[string]bool{}
	for _, c := range append(slices.Clone(before.Spec.InitContainers), before.Spec.Containers...) {
		existing["c/"+c.Name] = true
	}
	for _, v := range before.Spec.Volumes {
		existing["v/"+v.Name] = true
	}
	for _, op := range ops {
		require.Contains(t, []string{"add", "remove"}, op.Op, op.Path)
		if op.Op != "add" {
			continue
		}
		assert.False(t, op.Path == "/spec" || op.Path == "/metadata", op.Path)
		if op.Path == "/metadata/annotations" {
			assert.Empty(t, before.Annotations, "the annotations existed: added one by one")
		}
		m := elementPath.FindStringSubmatch(op.Path)
		if m == nil {
			continue
		}
		raw, err := json.Marshal(op.Value)
		require.NoError(t, err)
		if m[2] == "" { // a whole list
			if m[1] == "volumes" {
				assert.Empty(t, before.Spec.Volumes, op.Path)
			}
			var named []struct{ Name string }
			require.NoError(t, json.Unmarshal(raw, &named))
			for _, n := range named {
				assert.False(t, existing["c/"+n.Name] || existing["v/"+n.Name], "%s re-encodes %s", op.Path, n.Name)
			}
			continue
		}
		var named struct{ Name string }
		require.NoError(t, json.Unmarshal(raw, &named))
		kind := "c/"
		if m[1] == "volumes" {
			kind = "v/"
		}
		assert.False(t, existing[kind+named.Name], "%s re-encodes %s", op.Path, named.Name)
	}
}

// TestPatchCoversMutate applies the patch to the pod's JSON for every golden case and a
// few more: it gives the mutated pod, and only adds new values.
func TestPatchCoversMutate(t *testing.T) {
	cases := append([]goldenCase{}, goldenCases...)
	cases = append(cases,
		goldenCase{name: "share-process", fixture: "web", ann: basic(AnnShareProcessNamespace, "true", AnnJSONPatch, `[{"op":"add","path":"/env/-","value":{"name":"A","value":"b"}}]`)},
		goldenCase{name: "env-mode-init-first", fixture: "job-no-automount", ann: basic(ExtInjectEnv, "true", AnnInitFirst, "true")},
		goldenCase{name: "reinject-env-mode", fixture: "web", ann: basic(ExtInjectEnv, "true", AnnStatus, "update"), edit: func(p *corev1.Pod) {
			prev, _, err := Mutate(deepCopyPod(p), testConfig())
			if err != nil {
				panic(err)
			}
			*p = *prev
			p.Annotations[AnnStatus] = "update"
		}},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod, out := mutateCase(t, tc)
			ops, err := Patch(pod, out)
			require.NoError(t, err)
			encoded, err := json.Marshal(ops)
			require.NoError(t, err)
			assertPatchApplies(t, pod, out, encoded)
			assertOnlyNewValues(t, pod, ops)
		})
	}
}

func TestPatchIsDeterministic(t *testing.T) {
	pod := loadPod(t, "job-no-automount", basic(AnnInitFirst, "true"))
	out, _, err := Mutate(pod, testConfig())
	require.NoError(t, err)
	first, err := Patch(pod, out)
	require.NoError(t, err)
	for range 50 {
		again, err := Patch(pod, out)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
}

// Annotation keys are JSON Pointer tokens: "~" and "/" are escaped.
func TestPatchEscapesAnnotationKeys(t *testing.T) {
	before := &corev1.Pod{}
	before.Annotations = map[string]string{"a": "1"}
	after := before.DeepCopy()
	after.Annotations["vault.hashicorp.com/agent-inject-status"] = "injected"
	after.Annotations["x~y"] = "2"
	ops, err := Patch(before, after)
	require.NoError(t, err)
	assert.Equal(t, []Operation{
		{Op: "add", Path: "/metadata/annotations/vault.hashicorp.com~1agent-inject-status", Value: "injected"},
		{Op: "add", Path: "/metadata/annotations/x~0y", Value: "2"},
	}, ops)
}

// A change the patch cannot carry as additions is an error, not a wrong patch.
func TestPatchRefusesOtherChanges(t *testing.T) {
	pod := loadPod(t, "web", basic())
	for name, edit := range map[string]func(*corev1.Pod){
		"image of an existing container": func(p *corev1.Pod) { p.Spec.Containers[0].Image = "other" },
		"an existing volume":             func(p *corev1.Pod) { p.Spec.Volumes[0].Projected = nil },
		"containers reordered": func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "second", Image: "x"})
			slices.Reverse(p.Spec.Containers)
		},
	} {
		t.Run(name, func(t *testing.T) {
			before := pod.DeepCopy()
			if name == "containers reordered" {
				before.Spec.Containers = append(before.Spec.Containers, corev1.Container{Name: "second", Image: "x"})
			}
			after := before.DeepCopy()
			edit(after)
			if name == "containers reordered" {
				after.Spec.Containers = after.Spec.Containers[:2]
			}
			_, err := Patch(before, after)
			assert.ErrorContains(t, err, "internal error")
		})
	}
}
