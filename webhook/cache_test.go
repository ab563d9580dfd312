package webhook

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/internal/podspec"
)

// countingHandler counts the decisions the injector really makes.
func countingHandler(t *testing.T) (*Handler, *atomic.Int32) {
	t.Helper()
	h := NewHandler(testInjectorConfig(), nil, nil)
	var calls atomic.Int32
	h.mutate = func(p *podspec.Pod, c injector.Config) (*podspec.Pod, []string, error) {
		calls.Add(1)
		return injector.Mutate(p, c)
	}
	return h, &calls
}

func TestDecisionCache(t *testing.T) {
	t.Run("a ReplicaSet's identical pods are decided once", func(t *testing.T) {
		h, calls := countingHandler(t)
		body := reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated))
		_, first := post(t, h, body)
		second := strings.Replace(string(body), reviewUIDForTests, "0b0b0b0b-1111-2222-3333-444444444444", 1)
		require.NotEqual(t, string(body), second, "the second request has its own UID")
		_, again := post(t, h, []byte(second))
		assert.Equal(t, int32(1), calls.Load())
		assert.Equal(t, first.Response.Patch, again.Response.Patch)
		assert.EqualValues(t, reviewUIDForTests, first.Response.UID)
		assert.EqualValues(t, "0b0b0b0b-1111-2222-3333-444444444444", again.Response.UID, "each answer carries its request's UID")
		assert.Equal(t, 2.0, h.metrics.injections.Value("app"), "cached answers count as injections")
		assert.Equal(t, 1.0, h.metrics.cacheHits.Value())
	})
	t.Run("replicas differ in the generated volume name and managedFields only", func(t *testing.T) {
		h, calls := countingHandler(t)
		first := podJSON(t, annotated)
		require.Contains(t, string(first), "kube-api-access-x7k2p")
		second := strings.ReplaceAll(string(first), "kube-api-access-x7k2p", "kube-api-access-q9w8e")
		second = strings.Replace(second, `"metadata":{`, `"metadata":{"managedFields":[{"manager":"kube-controller-manager","operation":"Update","time":"2026-11-25T12:00:01Z"}],`, 1)
		_, a := post(t, h, reviewBody(t, "app", admissionv1.Create, first))
		_, b := post(t, h, reviewBody(t, "app", admissionv1.Create, []byte(second)))
		assert.Equal(t, int32(1), calls.Load(), "one decision for both replicas")
		assert.Equal(t, a.Response.Patch, b.Response.Patch)
		assert.NotContains(t, string(a.Response.Patch), "kube-api-access", "the patch does not name the generated volume")
		assertPatchedPodValid(t, []byte(second), b.Response.Patch)
	})
	t.Run("an answer that names the generated volume is not reused", func(t *testing.T) {
		h, calls := countingHandler(t)
		// agent-init-first moves the pod's own init container, which mounts the generated
		// volume, so the patch carries that container whole, name and all
		ann := map[string]string{injector.AnnInitFirst: "true"}
		for k, v := range annotated {
			ann[k] = v
		}
		first := podJSON(t, ann)
		first = []byte(strings.Replace(string(first), `"containers":[`, `"initContainers":[{"name":"setup","image":"busybox","volumeMounts":[{"name":"kube-api-access-x7k2p","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}]}],"containers":[`, 1))
		second := strings.ReplaceAll(string(first), "kube-api-access-x7k2p", "kube-api-access-q9w8e")
		_, a := post(t, h, reviewBody(t, "app", admissionv1.Create, first))
		require.Contains(t, string(a.Response.Patch), "kube-api-access-x7k2p")
		_, b := post(t, h, reviewBody(t, "app", admissionv1.Create, []byte(second)))
		assert.Equal(t, int32(2), calls.Load(), "decided again")
		assert.Contains(t, string(b.Response.Patch), "kube-api-access-q9w8e")
		assert.NotContains(t, string(b.Response.Patch), "kube-api-access-x7k2p")
		assertPatchedPodValid(t, []byte(second), b.Response.Patch)
	})
	t.Run("another namespace, another pod or a new configuration is decided again", func(t *testing.T) {
		h, calls := countingHandler(t)
		post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated)))
		post(t, h, reviewBody(t, "other", admissionv1.Create, podJSON(t, annotated)))
		other := map[string]string{injector.AnnRole: "other"}
		for k, v := range annotated {
			if _, ok := other[k]; !ok {
				other[k] = v
			}
		}
		post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, other)))
		assert.Equal(t, int32(3), calls.Load())
		h.SetConfig(h.Config())
		post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated)))
		assert.Equal(t, int32(4), calls.Load())
	})
	t.Run("denials are cached, internal errors are not", func(t *testing.T) {
		h, calls := countingHandler(t)
		bad := reviewBody(t, "team-b", admissionv1.Create, podJSON(t, map[string]string{injector.AnnInject: "true"}))
		for range 2 {
			_, review := post(t, h, bad)
			require.False(t, review.Response.Allowed)
			assert.Contains(t, review.Response.Result.Message, injector.AnnRole)
		}
		assert.Equal(t, int32(1), calls.Load())
		assert.Equal(t, 2.0, h.metrics.failures.Value("team-b"))

		h.mutate = func(*podspec.Pod, injector.Config) (*podspec.Pod, []string, error) {
			calls.Add(1)
			panic("boom")
		}
		body := reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated))
		post(t, h, body)
		post(t, h, body)
		assert.Equal(t, int32(3), calls.Load(), "a panic is decided again next time")
	})
	t.Run("the oldest entry makes room; size 0 turns it off", func(t *testing.T) {
		h, calls := countingHandler(t)
		h.SetDecisionCacheSize(2)
		bodies := [][]byte{
			reviewBody(t, "a", admissionv1.Create, podJSON(t, annotated)),
			reviewBody(t, "b", admissionv1.Create, podJSON(t, annotated)),
			reviewBody(t, "c", admissionv1.Create, podJSON(t, annotated)),
		}
		for _, b := range bodies {
			post(t, h, b)
		}
		assert.Equal(t, 2, h.cache.Load().len())
		post(t, h, bodies[2]) // still cached
		assert.Equal(t, int32(3), calls.Load())
		post(t, h, bodies[0]) // evicted
		assert.Equal(t, int32(4), calls.Load())

		h.SetDecisionCacheSize(0)
		post(t, h, bodies[1])
		post(t, h, bodies[1])
		assert.Equal(t, int32(6), calls.Load())
	})
}

// reviewUIDForTests is the request UID reviewBody writes.
const reviewUIDForTests = "705ab4f5-6393-11e8-b7cc-42010a800002"

// assertPatchedPodValid applies a patch to a pod and checks that every mount names a volume
// of the pod.
func assertPatchedPodValid(t *testing.T, pod, patch []byte) {
	t.Helper()
	p, err := jsonpatch5.DecodePatch(patch)
	require.NoError(t, err)
	out, err := p.Apply(pod)
	require.NoError(t, err)
	var got corev1.Pod
	require.NoError(t, json.Unmarshal(out, &got))
	volumes := map[string]bool{}
	for _, v := range got.Spec.Volumes {
		volumes[v.Name] = true
	}
	for _, c := range append(got.Spec.InitContainers, got.Spec.Containers...) {
		for _, m := range c.VolumeMounts {
			assert.True(t, volumes[m.Name], "container %s mounts %s, which the pod does not have", c.Name, m.Name)
		}
	}
}

func TestGeneratedNames(t *testing.T) {
	object := []byte(`{"metadata":{"annotations":{"x":"{\"name\":\"kube-api-access-meta1\",\"projected\":1}"}},` +
		`"spec":{"volumes":[{"name":"kube-api-access-ab12c","projected":{"sources":[]}},{"name":"kube-api-access-mine","emptyDir":{}}],` +
		`"containers":[{"name":"app","volumeMounts":[{"name":"kube-api-access-ab12c","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}]}]}}`)
	got := generatedNames(object)
	require.Len(t, got, 1, "only the spec's projected volume: %q", got)
	assert.Equal(t, "kube-api-access-ab12c", string(got[0]))
	assert.Empty(t, generatedNames([]byte(`{"spec":{"volumes":[]}}`)))
	// the same pod with another generated name has the same key; another namespace does not
	other := bytes.ReplaceAll(object, []byte("kube-api-access-ab12c"), []byte("kube-api-access-zz99y"))
	assert.Equal(t, decisionKey("ns", object, got), decisionKey("ns", other, generatedNames(other)))
	assert.NotEqual(t, decisionKey("ns", object, got), decisionKey("other", object, got))
	assert.NotEqual(t, decisionKey("ns", object, got), decisionKey("ns", bytes.Replace(object, []byte(`"app"`), []byte(`"web"`), 1), got))
}
