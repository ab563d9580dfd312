package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/internal/promexp"
)

// Issue 18 item 4: the namespace label of the metrics never takes a value a client made
// up beyond a bounded set: invalid names and namespaces past the first 256 are "other".
func TestMetricLabelsAreBounded(t *testing.T) {
	reg := promexp.NewRegistry()
	h := NewHandler(testInjectorConfig(), nil, reg)
	bad := podJSON(t, map[string]string{injector.AnnInject: "true"}) // denied: no role
	for _, ns := range []string{`evil"} 1` + "\n" + `injected_total{x="`, strings.Repeat("a", 300), "Team_B", "-x", "other"} {
		post(t, h, reviewBody(t, ns, admissionv1.Create, bad))
	}
	for i := range maxNamespaceLabels + 50 {
		post(t, h, reviewBody(t, fmt.Sprintf("ns-%d", i), admissionv1.Create, bad))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	labels := regexp.MustCompile(`(?m)^vaultkube_injector_failures_total\{namespace="([^"]*)"\} (\d+)$`).FindAllStringSubmatch(body, -1)
	assert.Len(t, labels, maxNamespaceLabels+1, "256 namespaces and other")
	assert.Contains(t, body, `vaultkube_injector_failures_total{namespace="other"} 55`)
	assert.Contains(t, body, `vaultkube_injector_failures_total{namespace="ns-0"} 1`)
	assert.NotContains(t, body, "evil")
	assert.NotContains(t, body, "Team_B")
	assert.NotContains(t, body, `namespace="ns-300"`)
}

// A Content-Length is a claim: the body is read as it arrives, up to 3 MiB, and a larger
// one is answered 413 with a message that says why.
func TestBodyLimits(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	small := reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated))

	t.Run("a claimed 3 MiB allocates what arrives", func(t *testing.T) {
		post(t, h, small) // warm the pools
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(small))
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = MaxBody
		rec := httptest.NewRecorder()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h.ServeHTTP(rec, req)
		runtime.ReadMemStats(&after)
		assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated for one small request")
	})
	t.Run("a claimed length over 3 MiB is refused before reading", func(t *testing.T) {
		body := &countingReader{r: bytes.NewReader(small)}
		req := httptest.NewRequest(http.MethodPost, "/mutate", body)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = MaxBody + 1
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
		assert.Contains(t, rec.Body.String(), "larger than 3 MiB")
		assert.Zero(t, body.n)
	})
	t.Run("a body over 3 MiB without a length is refused", func(t *testing.T) {
		big := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":"` + strings.Repeat("a", 3<<20) + `"}`
		req := httptest.NewRequest(http.MethodPost, "/mutate", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
		assert.Contains(t, rec.Body.String(), "the AdmissionReview is larger than 3 MiB")
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Beyond --max-concurrent-requests the webhook answers 429 at once instead of queueing.
func TestConcurrencyLimit(t *testing.T) {
	reg := promexp.NewRegistry()
	h := NewHandler(testInjectorConfig(), nil, reg)
	h.SetMaxConcurrent(2)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	h.mutate = func(p *corev1.Pod, c injector.Config) (*corev1.Pod, []string, error) {
		if calls.Add(1) <= 2 { // the first two hold their slots until released
			entered <- struct{}{}
			<-release
		}
		return injector.Mutate(p, c)
	}
	body := reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated))
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, _ := post(t, h, body)
			codes[i] = rec.Code
		}()
		<-entered
	}
	start := time.Now()
	rec, _ := post(t, h, body)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	assert.Contains(t, rec.Body.String(), "more than 2 admission requests at once")
	assert.Less(t, time.Since(start), time.Second, "answered at once, not queued")
	close(release)
	wg.Wait()
	assert.Equal(t, []int{http.StatusOK, http.StatusOK}, codes)

	h.mutate = injector.Mutate
	rec, review := post(t, h, body)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, review.Response.Allowed, "slots are given back")

	m := httptest.NewRecorder()
	h.ServeHTTP(m, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Contains(t, m.Body.String(), `vaultkube_injector_requests_total{result="throttled"} 1`)
}

func TestMaxConcurrentFlag(t *testing.T) {
	o := NewInjectorOptions()
	assert.Equal(t, DefaultMaxConcurrent, o.MaxConcurrent)
	cmd := NewCmdInjector()
	f := cmd.Flags().Lookup("max-concurrent-requests")
	require.NotNil(t, f)
	assert.Equal(t, "64", f.DefValue)
	assert.Contains(t, f.Usage, "VAULTKUBE_MAX_CONCURRENT_REQUESTS")
}
