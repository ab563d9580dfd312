// Package promexp implements a minimal Prometheus text exposition (format
// 0.0.4) for small binaries.
//
// It supports counters, single-label counter vectors and histograms, plus a
// handful of standard process and Go runtime gauges, and depends only on the
// standard library. Updating a metric is lock-free (or takes a read lock, for
// an existing CounterVec label value) and does not allocate.
package promexp

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// contentType is the Content-Type of the text exposition format 0.0.4.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// metric is implemented by every kind of metric a Registry can expose.
type metric interface {
	// metricName returns the metric family name.
	metricName() string
	// sampleNames returns every sample name the metric emits, including the
	// family name itself, so that collisions can be detected at registration.
	sampleNames() []string
	// appendExposition appends the HELP, TYPE and sample lines of the metric.
	appendExposition(b []byte) []byte
}

// Registry holds a set of metrics and renders them in the Prometheus text
// exposition format. It is safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	reserved map[string]struct{} // every family and sample name in use
	metrics  []metric            // sorted by metricName
}

// NewRegistry returns a Registry that already contains the standard metrics
// go_goroutines, go_memstats_heap_inuse_bytes, process_resident_memory_bytes,
// process_start_time_seconds and process_cpu_seconds_total, all computed at
// scrape time. Metrics that cannot be read on the current platform are
// omitted from the output.
func NewRegistry() *Registry {
	r := &Registry{reserved: make(map[string]struct{})}
	r.registerStandard(time.Now())
	return r
}

// register validates the name of m and adds it to the registry, keeping the
// metrics sorted by name. It panics on an invalid or duplicate name.
func (r *Registry) register(m metric) {
	name := m.metricName()
	if !validMetricName(name) {
		panic(fmt.Sprintf("promexp: invalid metric name %q", name))
	}
	samples := m.sampleNames()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range samples {
		if _, dup := r.reserved[s]; dup {
			panic(fmt.Sprintf("promexp: metric %q collides with an already registered name %q", name, s))
		}
	}
	for _, s := range samples {
		r.reserved[s] = struct{}{}
	}
	i, _ := slices.BinarySearchFunc(r.metrics, name, func(m metric, name string) int {
		return compareStrings(m.metricName(), name)
	})
	r.metrics = slices.Insert(r.metrics, i, m)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// snapshot returns the registered metrics, sorted by name.
func (r *Registry) snapshot() []metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.metrics)
}

// appendExposition appends the whole exposition to b.
func (r *Registry) appendExposition(b []byte) []byte {
	for _, m := range r.snapshot() {
		b = m.appendExposition(b)
	}
	return b
}

// WriteTo writes the text exposition of every metric in the registry to w,
// metrics sorted by name and the samples of a CounterVec sorted by label
// value. It returns the number of bytes written and any write error.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r.appendExposition(make([]byte, 0, 4096)))
	return int64(n), err
}

// Handler returns an http.Handler serving the exposition of r. GET and HEAD
// requests get 200 with Content-Type "text/plain; version=0.0.4;
// charset=utf-8" (HEAD without a body); any other method gets 405.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body := r.appendExposition(make([]byte, 0, 4096))
		h := w.Header()
		h.Set("Content-Type", contentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if req.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body) // nothing useful to do if the client went away
	})
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
			(i > 0 && '0' <= c && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and does
// not start with the reserved prefix "__".
func validLabelName(s string) bool {
	if s == "" || len(s) >= 2 && s[0] == '_' && s[1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
			(i > 0 && '0' <= c && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}
