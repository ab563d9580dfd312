package webhook

import (
	"bytes"
	"encoding/base64"
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

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/internal/jsonscan"
	"github.com/vaultkube/vaultkube/internal/podspec"
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

// maxPooledBody bounds the request buffers kept for reuse (a pod is a few KiB).
const maxPooledBody = 256 << 10

// MutateFunc is the decision: injector.Mutate in production, a stand-in in tests.
type MutateFunc func(*podspec.Pod, injector.Config) (*podspec.Pod, []string, error)

// Handler serves /mutate, /healthz, /readyz and /metrics.
type Handler struct {
	cfg     atomic.Pointer[injector.Config]
	ready   atomic.Bool
	mutate  MutateFunc
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	cache   atomic.Pointer[decisionCache]
	// bodies holds request buffers (*[]byte) for reuse: nothing decided keeps a part of
	// a request body (decoding copies what it keeps), so a body's buffer serves the next
	// request once the answer is written.
	bodies sync.Pool
	// patches holds the buffers patches are encoded into (*[]byte), likewise.
	patches sync.Pool
	// slots holds one token per admission request being decided; nil: no limit.
	slots atomic.Pointer[chan struct{}]
}

type metrics struct {
	requests   *promexp.CounterVec
	latency    *promexp.Histogram
	injections *promexp.CounterVec
	failures   *promexp.CounterVec
	cacheHits  *promexp.Counter
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
		cacheHits: reg.NewCounter("vaultkube_injector_decision_cache_hits_total",
			"Admission requests answered from the decision cache (identical pods, as a ReplicaSet's)."),
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
	h.SetDecisionCacheSize(DefaultDecisionCacheSize)
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
	h.cache.Load().clear() // answers of the old configuration; their entries also name it
}

// SetDecisionCacheSize sets how many recent pod objects the handler remembers its answer
// for (see decisionCache); 0 turns the cache off.
func (h *Handler) SetDecisionCacheSize(n int) { h.cache.Store(newDecisionCache(n)) }

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
	buf := getBuffer(&h.bodies)
	defer putBuffer(&h.bodies, buf)
	body, err := readBody(r, buf)
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
	resp, res := h.decide(req)
	result = res
	// v1beta1 has the same shape; answer in the version asked.
	if apiVersion != "admission.k8s.io/v1beta1" {
		apiVersion = "admission.k8s.io/v1"
	}
	// into the request's buffer: the request is decided
	*buf = appendReview((*buf)[:0], apiVersion, resp)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(*buf)))
	if _, err := w.Write(*buf); err != nil {
		result = "invalid"
		h.log.Error("write admission response", "uid", resp.UID, "error", err.Error())
	}
	if pb := resp.patchBuffer; pb != nil {
		resp.Patch, resp.patchBuffer = nil, nil
		putBuffer(&h.patches, pb)
	}
}

// getBuffer takes a buffer from pool, or makes one.
func getBuffer(pool *sync.Pool) *[]byte {
	if buf, _ := pool.Get().(*[]byte); buf != nil {
		return buf
	}
	return new([]byte)
}

// putBuffer returns a buffer to pool; a rare large one is not kept.
func putBuffer(pool *sync.Pool, buf *[]byte) {
	if cap(*buf) > maxPooledBody {
		*buf = nil
	}
	pool.Put(buf)
}

// appendReview writes the AdmissionReview that carries resp as json.NewEncoder(w).Encode
// writes it (TestAppendReviewMatchesEncoder), without reflection.
func appendReview(dst []byte, apiVersion string, resp *admissionResponse) []byte {
	dst = append(dst, `{"apiVersion":`...)
	dst = jsonscan.AppendString(dst, apiVersion)
	dst = append(dst, `,"kind":"AdmissionReview","response":{"uid":`...)
	dst = jsonscan.AppendString(dst, resp.UID)
	dst = append(dst, `,"allowed":`...)
	dst = strconv.AppendBool(dst, resp.Allowed)
	if r := resp.Result; r != nil {
		dst = append(dst, `,"status":{`...)
		n := len(dst)
		member := func(name, v string) {
			if v == "" {
				return
			}
			if len(dst) > n {
				dst = append(dst, ',')
			}
			dst = jsonscan.AppendString(append(dst, name...), v)
		}
		member(`"status":`, r.Status)
		member(`"message":`, r.Message)
		member(`"reason":`, r.Reason)
		if r.Code != 0 {
			if len(dst) > n {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(append(dst, `"code":`...), int64(r.Code), 10)
		}
		dst = append(dst, '}')
	}
	if len(resp.Patch) > 0 {
		dst = append(dst, `,"patch":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, resp.Patch)
		dst = append(dst, '"')
	}
	if resp.PatchType != nil {
		dst = jsonscan.AppendString(append(dst, `,"patchType":`...), *resp.PatchType)
	}
	if len(resp.Warnings) > 0 {
		dst = jsonscan.AppendStrings(append(dst, `,"warnings":`...), resp.Warnings)
	}
	return append(dst, "}}\n"...)
}

// tooLarge is the 413 answer's message.
var tooLarge = fmt.Sprintf("vaultkube injector: the AdmissionReview is larger than %d MiB (the API server's own request limit)", MaxBody>>20)

var errTooLarge = errors.New("body too large")

// readBody reads the request into *buf (grown as the bytes arrive, and kept there for
// reuse), at most MaxBody bytes: memory follows what the client sends, never what its
// Content-Length claims.
func readBody(r *http.Request, buf *[]byte) ([]byte, error) {
	b := bytes.NewBuffer((*buf)[:0])
	n, err := b.ReadFrom(io.LimitReader(r.Body, MaxBody+1))
	*buf = b.Bytes()
	if err != nil {
		return nil, err
	}
	if n > MaxBody {
		return nil, errTooLarge
	}
	return *buf, nil
}

// decide answers a request from the decision cache, or reviews it and remembers the answer.
func (h *Handler) decide(req *admissionRequest) (*admissionResponse, string) {
	cache := h.cache.Load()
	if cache == nil || !isPodCreate(req) || len(req.Object) == 0 || req.Object[0] != '{' {
		resp, result, _, _ := h.review(req)
		return resp, result
	}
	cfg := h.cfg.Load()
	generated := generatedNames(req.Object)
	key := decisionKey(req.Namespace, req.Object, generated)
	if d := cache.get(key); d != nil && d.cfg == cfg {
		h.metrics.cacheHits.Inc()
		switch d.outcome {
		case "patched":
			h.metrics.injected(req.Namespace)
		case "denied":
			h.metrics.failed(req.Namespace)
			h.log.Info("pod denied", "namespace", req.Namespace, "uid", req.UID, "reason", d.reason, "cached", true)
		}
		return d.response(req.UID), d.outcome
	}
	resp, result, reason, final := h.review(req)
	if final && !mentions(resp, generated) {
		cache.put(key, &decision{allowed: resp.Allowed, patch: bytes.Clone(resp.Patch), patchType: resp.PatchType, warnings: resp.Warnings,
			result: resp.Result, outcome: result, reason: reason, cfg: cfg})
	}
	return resp, result
}

func isPodCreate(req *admissionRequest) bool {
	return req.Kind.Group == "" && req.Kind.Kind == "Pod" && req.SubResource == "" && req.Operation == "CREATE"
}

// review decides one request. It never panics: a panic becomes a denial. The result is the
// requests metric's label; reason is what a denial logs; final is false for an internal
// error and a pod that does not decode (which decide does not cache).
func (h *Handler) review(req *admissionRequest) (resp *admissionResponse, result, reason string, final bool) {
	resp = &admissionResponse{UID: req.UID, Allowed: true}
	result = "allowed"
	ns := req.Namespace
	defer func() {
		if r := recover(); r != nil {
			h.log.Error("panic while mutating", "namespace", ns, "uid", req.UID, "panic", fmt.Sprint(r))
			h.metrics.failed(ns)
			resp = deny(req, fmt.Sprintf("vaultkube injector internal error: %v", r))
			result, final = "denied", false
		}
	}()
	if !isPodCreate(req) {
		return resp, result, "", true
	}
	if len(req.Object) == 0 || string(req.Object) == "null" {
		h.metrics.failed(ns)
		return deny(req, "vaultkube injector: the request carries no pod"), "denied", "no pod", true
	}
	pod, err := podspec.DecodePod(req.Object)
	if err != nil {
		h.metrics.failed(ns)
		// not cached: decisionKey reads the object as JSON only, and may not tell a pod that
		// does not decode apart from one that does
		return deny(req, "vaultkube injector: decode pod: "+err.Error()), "denied", "decode pod: " + err.Error(), false
	}
	// Pods created through a controller often have no namespace yet; the request has it.
	if pod.Namespace == "" {
		pod.Namespace = ns
	}
	cfg := h.cfg.Load()
	out, warnings, err := h.mutate(&pod, *cfg)
	resp.Warnings = warnings
	if err != nil {
		h.metrics.failed(ns)
		h.log.Info("pod denied", "namespace", ns, "name", podName(&pod), "uid", req.UID, "reason", err.Error())
		d := deny(req, err.Error())
		d.Warnings = warnings
		return d, "denied", err.Error(), true
	}
	if out == &pod {
		return resp, result, "", true
	}
	ops, err := injector.Patch(&pod, out)
	if err != nil {
		h.metrics.failed(ns)
		return deny(req, "vaultkube injector: "+err.Error()), "denied", "", false
	}
	if len(ops) == 0 {
		return resp, result, "", true
	}
	pb := getBuffer(&h.patches)
	patch, err := injector.AppendPatch((*pb)[:0], ops)
	if err != nil {
		putBuffer(&h.patches, pb)
		h.metrics.failed(ns)
		return deny(req, "vaultkube injector: encode patch: "+err.Error()), "denied", "", false
	}
	*pb = patch
	pt := "JSONPatch"
	resp.Patch, resp.PatchType, resp.patchBuffer = patch, &pt, pb
	h.metrics.injected(ns)
	h.log.Debug("pod injected", "namespace", ns, "name", podName(&pod), "uid", req.UID, "operations", len(ops))
	return resp, "patched", "", true
}

func deny(req *admissionRequest, msg string) *admissionResponse {
	return &admissionResponse{
		UID:     req.UID,
		Allowed: false,
		Result: &status{
			Status:  "Failure",
			Code:    http.StatusForbidden,
			Reason:  "Forbidden",
			Message: strings.TrimSpace(msg),
		},
	}
}

func podName(p *podspec.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName
}
