package webhook

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
)

// unknownFieldsPod is a pod as a newer API server might send it: fields k8s.io/api does
// not know in the spec, in containers (one of them a nested object), inside known objects
// (a security context, a volume, a mount) and in an existing init container, beside
// annotations of its own.
const unknownFieldsPod = `{
  "kind": "Pod",
  "apiVersion": "v1",
  "metadata": {
    "generateName": "web-7d9c5b6f4-",
    "labels": {"app": "web", "pod-template-hash": "7d9c5b6f4"},
    "annotations": {
      "kubectl.kubernetes.io/restartedAt": "2026-12-05T10:00:00Z",
      "example.com/a~b/c": "kept",
      "vault.hashicorp.com/agent-inject": "true",
      "vault.hashicorp.com/agent-init-first": "true",
      "vault.hashicorp.com/role": "web",
      "vault.hashicorp.com/agent-inject-secret-db": "secret/data/db"
    },
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9c5b6f4", "uid": "0b5c1a9e-1f2d-4c3b-9a8e-7f6d5c4b3a21", "controller": true, "blockOwnerDeletion": true}],
    "futureMetadata": "m"
  },
  "spec": {
    "futureField": {"mode": "strict", "levels": [1, 2, {"deep": true}]},
    "volumes": [
      {"name": "kube-api-access-x7k2p", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}], "defaultMode": 420, "futureProjection": 7}}
    ],
    "initContainers": [
      {"name": "wait-db", "image": "registry.example.com/wait:1.0", "command": ["/wait", "db:5432"], "futureInit": {"retries": 3}}
    ],
    "containers": [
      {
        "name": "web",
        "image": "registry.example.com/web:1.4.2",
        "command": ["/usr/bin/web"],
        "args": ["--listen", ":8080"],
        "futureField": {"nested": {"list": ["a", "b"], "n": 1.5, "null": null}},
        "securityContext": {"runAsUser": 1000, "futureKnob": "on"},
        "resources": {"requests": {"cpu": "100m", "memory": 64000000}},
        "env": [{"name": "LOG", "value": "debug", "futureEnv": 1}],
        "volumeMounts": [{"name": "kube-api-access-x7k2p", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "futureMount": "x"}]
      }
    ],
    "serviceAccountName": "web",
    "futureScheduling": ["x"]
  },
  "status": {"phase": "Pending", "futureStatus": {}}
}`

// TestUnknownFieldsSurviveInjection sends a real-looking AdmissionReview whose pod carries
// fields k8s.io/api does not know through the HTTP handler, applies the answer's patch to
// the request's object bytes, as the API server does, and finds every field of the
// original at its place with its value, the agent injected, and no operation whose value
// is an existing object written out again.
func TestUnknownFieldsSurviveInjection(t *testing.T) {
	cfg := testInjectorConfig()
	cfg.ServerVersion = "v1.37.2"
	h := NewHandler(cfg, nil, nil)
	object := []byte(unknownFieldsPod)
	body := []byte(`{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{` +
		`"uid":"6f1f6c2e-5d1a-4f7e-9a51-2c4e8b7d9a10","kind":{"group":"","version":"v1","kind":"Pod"},` +
		`"resource":{"group":"","version":"v1","resource":"pods"},"requestKind":{"group":"","version":"v1","kind":"Pod"},` +
		`"requestResource":{"group":"","version":"v1","resource":"pods"},"namespace":"app","operation":"CREATE",` +
		`"userInfo":{"username":"system:serviceaccount:kube-system:replicaset-controller","groups":["system:serviceaccounts","system:authenticated"]},` +
		`"object":` + unknownFieldsPod + `,"oldObject":null,"dryRun":false,` +
		`"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}}`)
	require.True(t, json.Valid(body))

	rec, review := post(t, h, body)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	resp := review.Response
	require.True(t, resp.Allowed, "%+v", resp.Result)
	require.NotNil(t, resp.PatchType)
	assert.Equal(t, admissionv1.PatchTypeJSONPatch, *resp.PatchType)
	assert.Empty(t, resp.Warnings)

	// no operation writes out an existing object again
	var ops []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	require.NoError(t, json.Unmarshal(resp.Patch, &ops))
	existing := map[string]bool{"web": true, "wait-db": true, "kube-api-access-x7k2p": true}
	whole := regexp.MustCompile(`^/spec/(containers|initContainers|volumes)(/\d+)?$`)
	for _, op := range ops {
		assert.Contains(t, []string{"add"}, op.Op, "%s: only additions for a first injection", op.Path)
		assert.NotContains(t, []string{"", "/metadata", "/spec", "/metadata/annotations", "/metadata/labels"}, op.Path)
		assert.NotRegexp(t, `(?i)future`, string(op.Value), "%s: its value holds an existing field", op.Path)
		if whole.MatchString(op.Path) {
			var named []struct{ Name string }
			if err := json.Unmarshal(op.Value, &named); err != nil {
				var one struct{ Name string }
				require.NoError(t, json.Unmarshal(op.Value, &one), op.Path)
				named = append(named, one)
			}
			for _, n := range named {
				assert.False(t, existing[n.Name], "%s re-encodes %s", op.Path, n.Name)
			}
		}
	}

	// the API server's part: apply the patch to the object it sent
	patch, err := jsonpatch5.DecodePatch(resp.Patch)
	require.NoError(t, err)
	patched, err := patch.Apply(object)
	require.NoError(t, err)
	var before, after map[string]any
	require.NoError(t, json.Unmarshal(object, &before))
	require.NoError(t, json.Unmarshal(patched, &after))

	// every member of the original is there with its value; lists of named objects are
	// matched by name, and the lists injection appends to keep their elements first
	assertKept(t, "", before, after)

	// the agent is injected: a native sidecar first among the init containers
	spec := after["spec"].(map[string]any)
	inits := spec["initContainers"].([]any)
	require.Len(t, inits, 2)
	agent := inits[0].(map[string]any)
	assert.Equal(t, "vault-agent", agent["name"])
	assert.Equal(t, "Always", agent["restartPolicy"])
	assert.Equal(t, "wait-db", inits[1].(map[string]any)["name"])
	ann := after["metadata"].(map[string]any)["annotations"].(map[string]any)
	assert.Equal(t, "injected", ann["vault.hashicorp.com/agent-inject-status"])
	mounts := spec["containers"].([]any)[0].(map[string]any)["volumeMounts"].([]any)
	assert.Contains(t, mounts, map[string]any{"name": "vaultkube-secrets", "mountPath": "/vault/secrets", "readOnly": true})
}

// assertKept checks that every member of want is in got with the same value. Lists of
// objects with names are compared element by element by name; other lists must start with
// want's elements (injection appends mounts and env vars).
func assertKept(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !assert.True(t, ok, "%s is no longer an object", path) {
			return
		}
		for k, v := range w {
			gv, ok := g[k]
			if !assert.True(t, ok, "%s/%s is gone", path, k) {
				continue
			}
			assertKept(t, path+"/"+k, v, gv)
		}
	case []any:
		g, ok := got.([]any)
		if !assert.True(t, ok, "%s is no longer a list", path) {
			return
		}
		if names := listNames(w); names != nil && !strings.HasSuffix(path, "/volumeMounts") && !strings.HasSuffix(path, "/env") {
			byName := map[string]any{}
			for _, e := range g {
				if m, ok := e.(map[string]any); ok {
					byName[fmt.Sprint(m["name"])] = e
				}
			}
			for i, n := range names {
				assertKept(t, path+"/"+n, w[i], byName[n])
			}
			return
		}
		if !assert.GreaterOrEqual(t, len(g), len(w), "%s lost elements", path) {
			return
		}
		for i := range w {
			assertKept(t, fmt.Sprintf("%s/%d", path, i), w[i], g[i])
		}
	default:
		assert.Equal(t, want, got, path)
	}
}

// listNames returns the names of a list of named objects, or nil.
func listNames(l []any) []string {
	var names []string
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil
		}
		n, ok := m["name"].(string)
		if !ok {
			return nil
		}
		names = append(names, n)
	}
	return names
}
