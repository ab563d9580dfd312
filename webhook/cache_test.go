package webhook

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

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
