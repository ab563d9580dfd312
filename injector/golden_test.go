package injector

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vaultkube/vaultkube/internal/podspec"
	"github.com/wI2L/jsondiff"
)

type goldenCase struct {
	name    string
	fixture string
	ann     map[string]string
	cfg     func(*Config)
	edit    func(*podspec.Pod)
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
	{name: "reinject-status-update", fixture: "web", ann: basic(AnnStatus, "update"), edit: func(p *podspec.Pod) {
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
			pod := loadPod(t, tc.fixture, tc.ann)
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

			ops, err := Patch(pod, out)
			require.NoError(t, err)
			// as the webhook sends it
			encoded, err := EncodePatch(ops)
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
		})
	}
}

func assertPatchApplies(t *testing.T, before, after *podspec.Pod, patch []byte) {
	t.Helper()
	p, err := jsonpatch5.DecodePatch(patch)
	require.NoError(t, err)
	raw, err := json.Marshal(before)
	require.NoError(t, err)
	patched, err := p.Apply(raw)
	require.NoError(t, err)
	var got podspec.Pod
	require.NoError(t, json.Unmarshal(patched, &got))
	assert.JSONEq(t, podText(after), podText(&got))
}

// TestPatchViewCoversMutate checks that the patch of the reduced view and the diff of the
// whole pods give the same pod, for every golden case and a few more: Mutate changes
// nothing outside the view.
func TestPatchViewCoversMutate(t *testing.T) {
	cases := append([]goldenCase{}, goldenCases...)
	cases = append(cases,
		goldenCase{name: "share-process", fixture: "web", ann: basic(AnnShareProcessNamespace, "true", AnnJSONPatch, `[{"op":"add","path":"/env/-","value":{"name":"A","value":"b"}}]`)},
		goldenCase{name: "env-mode-init-first", fixture: "job-no-automount", ann: basic(ExtInjectEnv, "true", AnnInitFirst, "true")},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := loadPod(t, tc.fixture, tc.ann)
			if tc.edit != nil {
				tc.edit(pod)
			}
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			out, _, err := Mutate(pod, cfg)
			require.NoError(t, err)
			assertSamePatchResult(t, pod, out)
		})
	}
}

// assertSamePatchResult applies Patch and PatchFull to the pod's JSON: both give the
// mutated pod's JSON.
func assertSamePatchResult(t testing.TB, before, after *podspec.Pod) {
	t.Helper()
	view, err := Patch(before, after)
	require.NoError(t, err)
	full, err := PatchFull(before, after)
	require.NoError(t, err)
	raw, err := json.Marshal(before)
	require.NoError(t, err)
	want, err := json.Marshal(after)
	require.NoError(t, err)
	for name, ops := range map[string][]jsondiff.Operation{"view": view, "full": full} {
		encoded, err := json.Marshal(ops)
		require.NoError(t, err)
		marker, _ := json.Marshal(tokenPrefix)
		assert.NotContains(t, string(encoded), strings.Trim(string(marker), `"`), "%s: a token leaked", name)
		p, err := jsonpatch5.DecodePatch(encoded)
		require.NoError(t, err)
		got, err := p.Apply(raw)
		require.NoError(t, err, name)
		assert.JSONEq(t, string(want), string(got), name)
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

func TestEncodePatchMatchesJSON(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			pod := loadPod(t, tc.fixture, tc.ann)
			if tc.edit != nil {
				tc.edit(pod)
			}
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			out, _, err := Mutate(pod, cfg)
			require.NoError(t, err)
			ops, err := Patch(pod, out)
			require.NoError(t, err)
			ops = append(ops,
				jsondiff.Operation{Type: jsondiff.OperationReplace, Path: "/x~1\"y", Value: nil},
				jsondiff.Operation{Type: jsondiff.OperationRemove, Path: "/z"},
				jsondiff.Operation{Type: jsondiff.OperationMove, From: "/a/0", Path: "/b/-"},
				jsondiff.Operation{Type: jsondiff.OperationCopy, From: "/a/1", Path: "/c"},
				jsondiff.Operation{Type: jsondiff.OperationTest, Path: "/d", Value: []any{"x", 1.5, nil}})
			want, err := json.Marshal(ops)
			require.NoError(t, err)
			got, err := EncodePatch(ops)
			require.NoError(t, err)
			assert.JSONEq(t, string(want), string(got))
		})
	}
}

// Tokens past the precomputed ones work alike, and only the after side's own tokens, as
// written, stand for elements.
func TestElementTokens(t *testing.T) {
	e := &elements{}
	seen := map[string]bool{}
	var after []string
	for n := range 150 {
		side, v := byte('b'), any(nil)
		if n%3 != 0 {
			side, v = 'a', n
		}
		tok := e.token(side, v)
		require.False(t, seen[tok], "token %d repeats", n)
		seen[tok] = true
		if side == 'a' {
			after = append(after, tok)
		} else {
			_, ok := e.element(tok)
			assert.False(t, ok, "a before-side token stands for nothing")
		}
	}
	for _, tok := range after {
		v, ok := e.element(tok)
		require.True(t, ok)
		n := v.(int)
		assert.Equal(t, tokenFor('a', n), tok)
	}
	for _, s := range []string{"", tokenPrefix, tokenPrefix + tokenNonce + "a", tokenPrefix + tokenNonce + "a01",
		tokenPrefix + tokenNonce + "a+1", tokenPrefix + tokenNonce + "a-1", tokenPrefix + tokenNonce + "a150",
		tokenPrefix + strings.Repeat("0", len(tokenNonce)) + "a1", "vk:a1"} {
		_, ok := e.element(s)
		assert.False(t, ok, "%q", s)
	}
}

// A value that is not a JSON type is an error, not a panic, and the pool stays usable.
func TestDiffRefusesNonJSONValues(t *testing.T) {
	_, err := diff(map[string]any{"a": 1}, map[string]any{"a": 2})
	require.ErrorContains(t, err, "diff pods")
	ops, err := diff(map[string]any{"a": "x"}, map[string]any{"a": "y", "b": []any{"z"}})
	require.NoError(t, err)
	got, err := EncodePatch(ops)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"op":"replace","path":"/a","value":"y"},{"op":"add","path":"/b","value":["z"]}]`, string(got))
}
