package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/internal/promexp"
)

// MaxBody bounds an AdmissionReview: the API server's own request limit is 3 MiB, and a
// larger body is answered 413 without reading it all.
const MaxBody = 3 << 20

// DefaultMaxConcurrent is --max-concurrent-requests's default: admission requests decided
// at once; beyond it the webhook answers 429 at once instead of queueing without bound.
const DefaultMaxConcurrent = 64

// maxNamespaceLabels bounds the distinct namespace label values of the metrics: later
// namespaces (and names that are no namespace name) count under "other", so that requests
// cannot grow the metrics without bound.
const maxNamespaceLabels = 256

// MutateFunc is the decision: injector.Mutate in production, a stand-in in tests.
type MutateFunc func(*corev1.Pod, injector.Config) (*corev1.Pod, []string, error)

// Handler serves /mutate, /healthz, /readyz and /metrics.
type Handler struct {
	cfg     atomic.Pointer[injector.Config]
	ready   atomic.Bool
	mutate  MutateFunc
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	// slots holds one token per admission request being decided; nil: no limit.
	slots atomic.Pointer[chan struct{}]
}

type metrics struct {
	requests   *promexp.CounterVec
	latency    *promexp.Histogram
	injections *promexp.CounterVec
	failures   *promexp.CounterVec
	namespaces labelSet
}

// labelSet bounds the values of a metric label taken from requests: the first max valid
// values are kept, everything else is "other".
type labelSet struct {
	mu     sync.RWMutex
	values map[string]string
	max    int
	valid  func(string) bool
}

func (l *labelSet) value(v string) string {
	l.mu.RLock()
	kept, ok := l.values[v]
	l.mu.RUnlock()
	if ok {
		return kept
	}
	if !l.valid(v) {
		return "other"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if kept, ok := l.values[v]; ok {
		return kept
	}
	if len(l.values) >= l.max {
		return "other"
	}
	v = strings.Clone(v) // not a view of a request body
	l.values[v] = v
	return v
}

// isNamespaceName reports whether s can be a namespace's name (an RFC 1123 label).
func isNamespaceName(s string) bool {
	if s == "" || len(s) > 63 || s == "other" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

func newMetrics(reg *promexp.Registry) *metrics {
	return &metrics{
		requests: reg.NewCounterVec("vaultkube_injector_requests_total",
			"Admission requests by result (allowed, patched, denied, invalid, throttled).", "result"),
		latency: reg.NewHistogram("vaultkube_injector_request_duration_seconds", "Time to answer an admission request.",
			[]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}),
		injections: reg.NewCounterVec("vaultkube_injector_injections_total",
			"Pods mutated to run the agent, by namespace.", "namespace"),
		failures: reg.NewCounterVec("vaultkube_injector_failures_total",
			"Pods denied (invalid annotations or internal errors), by namespace.", "namespace"),
		namespaces: labelSet{values: map[string]string{}, max: maxNamespaceLabels, valid: isNamespaceName},
	}
}

// injected and failed count a pod by namespace, with the label bounded.
func (m *metrics) injected(ns string) { m.injections.Inc(m.namespaces.value(ns)) }
func (m *metrics) failed(ns string)   { m.failures.Inc(m.namespaces.value(ns)) }

// NewHandler returns the webhook's HTTP handler. reg receives the metrics (it comes with
// the Go and process metrics); it is also what /metrics serves. nil makes a new one.
func NewHandler(cfg injector.Config, log *slog.Logger, reg *promexp.Registry) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = promexp.NewRegistry()
	}
	h := &Handler{mutate: injector.Mutate, log: log, metrics: newMetrics(reg), mux: http.NewServeMux()}
	h.SetMaxConcurrent(DefaultMaxConcurrent)
	h.SetConfig(cfg)
	h.ready.Store(true)
	h.mux.HandleFunc("/mutate", h.serveMutate)
	h.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	h.mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !h.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	h.mux.Handle("/metrics", reg.Handler())
	return h
}

// PlainHandler serves only /metrics, /healthz and /readyz (for a plain-HTTP port).
func (h *Handler) PlainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics", "/healthz", "/readyz":
			h.mux.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// SetConfig replaces the injector configuration (for example once the API server version
// is known); safe while serving.
func (h *Handler) SetConfig(cfg injector.Config) {
	h.cfg.Store(&cfg)
}

// SetMaxConcurrent sets how many admission requests are decided at once; more are
// answered 429 (Too Many Requests) at once. 0 means no limit. Set it before serving.
func (h *Handler) SetMaxConcurrent(n int) {
	if n <= 0 {
		h.slots.Store(nil)
		return
	}
	ch := make(chan struct{}, n)
	h.slots.Store(&ch)
}

// Config returns the current injector configuration.
func (h *Handler) Config() injector.Config { return *h.cfg.Load() }

// SetReady sets what /readyz answers.
func (h *Handler) SetReady(ready bool) { h.ready.Store(ready) }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) serveMutate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	result := "invalid"
	defer func() {
		h.metrics.requests.Inc(result)
		h.metrics.latency.Observe(time.Since(start).Seconds())
	}()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST with an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			http.Error(w, "content type must be application/json", http.StatusUnsupportedMediaType)
			return
		}
	}
	if r.ContentLength > MaxBody {
		http.Error(w, tooLarge, http.StatusRequestEntityTooLarge)
		return
	}
	if slots := h.slots.Load(); slots != nil {
		select {
		case *slots <- struct{}{}:
			defer func() { <-*slots }()
		default:
			result = "throttled"
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("vaultkube injector: more than %d admission requests at once; retry", cap(*slots)), http.StatusTooManyRequests)
			return
		}
	}
	body, err := readBody(r)
	if errors.Is(err, errTooLarge) {
		http.Error(w, tooLarge, http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, apiVersion, err := decodeReview(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, res := h.review(req)
	result = res
	// v1beta1 has the same shape; answer in the version asked.
	if apiVersion != "admission.k8s.io/v1beta1" {
		apiVersion = "admission.k8s.io/v1"
	}
	out, err := json.Marshal(review(apiVersion, resp))
	if err != nil {
		result = "invalid"
		h.log.Error("encode admission response", "uid", resp.UID, "error", err.Error())
		http.Error(w, "encode admission response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	if _, err := w.Write(out); err != nil {
		result = "invalid"
		h.log.Error("write admission response", "uid", resp.UID, "error", err.Error())
	}
}

// tooLarge is the 413 answer's message.
var tooLarge = fmt.Sprintf("vaultkube injector: the AdmissionReview is larger than %d MiB (the API server's own request limit)", MaxBody>>20)

var errTooLarge = errors.New("body too large")

// readBody reads the request, at most MaxBody bytes: memory follows what the client
// sends, never what its Content-Length claims.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBody {
		return nil, errTooLarge
	}
	return body, nil
}

// review decides one request. It never panics: a panic becomes a denial. The result is the
// requests metric's label.
func (h *Handler) review(req *admissionv1.AdmissionRequest) (resp *admissionv1.AdmissionResponse, result string) {
	resp = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	result = "allowed"
	ns := req.Namespace
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("panic while mutating", "namespace", ns, "uid", req.UID, "panic", fmt.Sprint(r))
			h.metrics.failed(ns)
			resp, result = deny(req, fmt.Sprintf("vaultkube injector internal error: %v", r)), "denied"
		}
	}()
	if !isPodCreate(req) {
		return resp, result
	}
	if len(req.Object.Raw) == 0 || string(req.Object.Raw) == "null" {
		h.metrics.failed(ns)
		return deny(req, "vaultkube injector: the request carries no pod"), "denied"
	}
	pod, err := decodePod(req.Object.Raw)
	if err != nil {
		h.metrics.failed(ns)
		h.log.Info("pod denied", "namespace", ns, "uid", req.UID, "reason", "decode pod: "+err.Error())
		return deny(req, "vaultkube injector: decode pod: "+err.Error()), "denied"
	}
	// Pods created through a controller often have no namespace yet; the request has it.
	if pod.Namespace == "" {
		pod.Namespace = ns
	}
	out, warnings, err := h.mutate(pod, *h.cfg.Load())
	resp.Warnings = warnings
	if err != nil {
		h.metrics.failed(ns)
		h.log.Info("pod denied", "namespace", ns, "name", podName(pod), "uid", req.UID, "reason", err.Error())
		d := deny(req, err.Error())
		d.Warnings = warnings
		return d, "denied"
	}
	if out == pod {
		return resp, result
	}
	ops, err := injector.Patch(pod, out)
	if err != nil {
		h.metrics.failed(ns)
		return deny(req, "vaultkube injector: "+err.Error()), "denied"
	}
	if len(ops) == 0 {
		return resp, result
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		h.metrics.failed(ns)
		return deny(req, "vaultkube injector: encode patch: "+err.Error()), "denied"
	}
	pt := admissionv1.PatchTypeJSONPatch
	resp.Patch, resp.PatchType = patch, &pt
	h.metrics.injected(ns)
	h.log.Debug("pod injected", "namespace", ns, "name", podName(pod), "uid", req.UID, "operations", len(ops))
	return resp, "patched"
}

func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName
}
