package promexp

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var standardNames = []string{
	"go_goroutines",
	"go_memstats_heap_inuse_bytes",
	"process_cpu_seconds_total",
	"process_resident_memory_bytes",
	"process_start_time_seconds",
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parsing exposition: %v\n%s", err, text)
	}
	return fams
}

func TestExpositionRoundTrip(t *testing.T) {
	r := NewRegistry()

	c := r.NewCounter("webhook_requests_total", "Admission requests.\nWith a \\ and a newline.")
	c.Add(41.25)
	c.Inc()

	labelValues := map[string]float64{
		"allowed":               3,
		`quote"back\slash`:      2,
		"multi\nline \"value\"": 1,
	}
	vec := r.NewCounterVec("webhook_decisions_total", "Decisions by outcome.", "outcome")
	for v, n := range labelValues {
		for i := 0; i < int(n); i++ {
			vec.Inc(v)
		}
	}

	buckets := []float64{0.005, 0.1, 1, 2.5}
	h := r.NewHistogram("webhook_duration_seconds", "Request latency.", buckets)
	observations := []float64{0.001, 0.005, 0.05, 0.5, 0.7, 2, 3, 100}
	for _, o := range observations {
		h.Observe(o)
	}
	noHelp := r.NewCounter("no_help_total", "")

	var buf bytes.Buffer
	n, err := r.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; buffer has %d bytes", n, err, buf.Len())
	}
	text := buf.String()
	fams := parse(t, text)

	// Every family is present, and nothing else.
	var names []string
	for name := range fams {
		names = append(names, name)
	}
	sort.Strings(names)
	want := append([]string{"no_help_total", "webhook_decisions_total", "webhook_duration_seconds", "webhook_requests_total"}, standardNames...)
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("families = %v, want %v", names, want)
	}

	// Families appear in the text sorted by name.
	var order []string
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			order = append(order, strings.Fields(rest)[0])
		}
	}
	if !sort.StringsAreSorted(order) || len(order) != len(want) {
		t.Errorf("TYPE lines in order %v, want sorted %v", order, want)
	}

	// Counter.
	f := fams["webhook_requests_total"]
	if f.GetType() != dto.MetricType_COUNTER || f.GetHelp() != "Admission requests.\nWith a \\ and a newline." {
		t.Errorf("counter family: type %v help %q", f.GetType(), f.GetHelp())
	}
	if got := f.Metric[0].GetCounter().GetValue(); got != 42.25 || got != c.Value() {
		t.Errorf("counter value = %v, want 42.25 (Value() = %v)", got, c.Value())
	}
	if f := fams["no_help_total"]; f.GetHelp() != "" || f.Metric[0].GetCounter().GetValue() != noHelp.Value() {
		t.Errorf("no_help_total: help %q value %v", f.GetHelp(), f.Metric[0].GetCounter().GetValue())
	}

	// CounterVec: every label value round-trips, in sorted order.
	f = fams["webhook_decisions_total"]
	if f.GetType() != dto.MetricType_COUNTER || len(f.Metric) != len(labelValues) {
		t.Fatalf("counter vec family: type %v, %d metrics", f.GetType(), len(f.Metric))
	}
	var seen []string
	for _, m := range f.Metric {
		if len(m.Label) != 1 || m.Label[0].GetName() != "outcome" {
			t.Fatalf("unexpected labels %v", m.Label)
		}
		lv := m.Label[0].GetValue()
		seen = append(seen, lv)
		wantV, ok := labelValues[lv]
		if !ok {
			t.Errorf("unexpected label value %q", lv)
			continue
		}
		if got := m.GetCounter().GetValue(); got != wantV || got != vec.Value(lv) {
			t.Errorf("counter vec %q = %v, want %v (Value() = %v)", lv, got, wantV, vec.Value(lv))
		}
	}
	if !sort.StringsAreSorted(seen) {
		t.Errorf("label values not sorted: %q", seen)
	}
	if vec.Value("never") != 0 {
		t.Errorf("Value of unseen label = %v, want 0", vec.Value("never"))
	}

	// Histogram: cumulative buckets, +Inf, sum and count.
	f = fams["webhook_duration_seconds"]
	if f.GetType() != dto.MetricType_HISTOGRAM || len(f.Metric) != 1 {
		t.Fatalf("histogram family: type %v, %d metrics", f.GetType(), len(f.Metric))
	}
	hm := f.Metric[0].GetHistogram()
	var wantSum float64
	for _, o := range observations {
		wantSum += o
	}
	if hm.GetSampleCount() != uint64(len(observations)) || h.Count() != uint64(len(observations)) {
		t.Errorf("histogram count = %d (Count() = %d), want %d", hm.GetSampleCount(), h.Count(), len(observations))
	}
	if hm.GetSampleSum() != wantSum || h.Sum() != wantSum {
		t.Errorf("histogram sum = %v (Sum() = %v), want %v", hm.GetSampleSum(), h.Sum(), wantSum)
	}
	wantBounds := append(append([]float64(nil), buckets...), math.Inf(1))
	wantCum := []uint64{2, 3, 5, 6, 8}
	if len(hm.Bucket) != len(wantBounds) {
		t.Fatalf("histogram has %d buckets, want %d", len(hm.Bucket), len(wantBounds))
	}
	for i, b := range hm.Bucket {
		if b.GetUpperBound() != wantBounds[i] || b.GetCumulativeCount() != wantCum[i] {
			t.Errorf("bucket %d = le %v count %d, want le %v count %d",
				i, b.GetUpperBound(), b.GetCumulativeCount(), wantBounds[i], wantCum[i])
		}
	}
	if !strings.Contains(text, `webhook_duration_seconds_bucket{le="+Inf"} 8`+"\n") ||
		!strings.Contains(text, `webhook_duration_seconds_bucket{le="0.005"} 2`+"\n") {
		t.Errorf("histogram bucket lines not as expected:\n%s", text)
	}

	// Standard metrics have the right types and plausible values.
	for _, name := range standardNames {
		f := fams[name]
		if f == nil || len(f.Metric) != 1 {
			t.Errorf("standard metric %s missing", name)
			continue
		}
		wantType := dto.MetricType_GAUGE
		v := f.Metric[0].GetGauge().GetValue()
		if name == "process_cpu_seconds_total" {
			wantType = dto.MetricType_COUNTER
			v = f.Metric[0].GetCounter().GetValue()
		}
		if f.GetType() != wantType {
			t.Errorf("%s has type %v, want %v", name, f.GetType(), wantType)
		}
		if v < 0 || (v == 0 && name != "process_cpu_seconds_total") {
			t.Errorf("%s = %v", name, v)
		}
	}
}

func TestExactOutput(t *testing.T) {
	r := &Registry{reserved: map[string]struct{}{}} // without standard metrics
	r.NewCounter("b_total", "B.").Add(1.5)
	v := r.NewCounterVec("a_total", "A \"help\".", "code")
	v.Inc("z")
	v.Inc("a\\b")
	h := r.NewHistogram("c", "", []float64{1, math.Inf(1)})
	h.Observe(1)
	h.Observe(math.Inf(1))
	r.NewHistogram("d", "D", nil).Observe(-3)

	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	want := `# HELP a_total A "help".
# TYPE a_total counter
a_total{code="a\\b"} 1
a_total{code="z"} 1
# HELP b_total B.
# TYPE b_total counter
b_total 1.5
# TYPE c histogram
c_bucket{le="1"} 1
c_bucket{le="+Inf"} 2
c_sum +Inf
c_count 2
# HELP d D
# TYPE d histogram
d_bucket{le="+Inf"} 1
d_sum -3
d_count 1
`
	if buf.String() != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", buf.String(), want)
	}
	parse(t, buf.String())
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteToError(t *testing.T) {
	if _, err := NewRegistry().WriteTo(failWriter{}); err != io.ErrClosedPipe {
		t.Errorf("WriteTo error = %v, want %v", err, io.ErrClosedPipe)
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("handler_test_total", "Test.").Inc()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET status = %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	fams := parse(t, string(body))
	if fams["handler_test_total"].Metric[0].GetCounter().GetValue() != 1 {
		t.Errorf("handler_test_total not 1 in:\n%s", body)
	}

	resp, err = http.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 ||
		resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("HEAD: status %d, %d body bytes, Content-Type %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
	}

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		rec := httptest.NewRecorder()
		r.Handler().ServeHTTP(rec, httptest.NewRequest(method, "/metrics", strings.NewReader("x")))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s status = %d, want 405", method, rec.Code)
		}
		if allow := rec.Header().Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("%s Allow = %q", method, allow)
		}
	}
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: did not panic", name)
		}
	}()
	f()
}

func TestPanics(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("dup_total", "")
	r.NewHistogram("hist", "", []float64{1})

	for _, name := range []string{"", "1abc", "a-b", "a b", "a.b", "é", "a{b}"} {
		mustPanic(t, "NewCounter("+name+")", func() { r.NewCounter(name, "") })
		mustPanic(t, "NewCounterVec("+name+")", func() { r.NewCounterVec(name, "", "l") })
		mustPanic(t, "NewHistogram("+name+")", func() { r.NewHistogram(name, "", nil) })
	}
	for _, label := range []string{"", "__reserved", "1a", "a:b", "a-b", "é"} {
		mustPanic(t, "label "+label, func() { r.NewCounterVec("ok_total", "", label) })
	}
	for _, name := range append([]string{"dup_total", "hist", "hist_bucket", "hist_sum", "hist_count"}, standardNames...) {
		mustPanic(t, "duplicate counter "+name, func() { r.NewCounter(name, "") })
		mustPanic(t, "duplicate vec "+name, func() { r.NewCounterVec(name, "", "l") })
		mustPanic(t, "duplicate histogram "+name, func() { r.NewHistogram(name, "", nil) })
	}
	r.NewCounter("y_sum", "")
	mustPanic(t, "histogram suffix collides with counter", func() { r.NewHistogram("y", "", nil) })
	for name, b := range map[string][]float64{
		"descending":    {1, 0.5},
		"equal":         {1, 1},
		"unsorted":      {0.1, 1, 0.5, 2},
		"NaN":           {math.NaN()},
		"NaN later":     {1, math.NaN()},
		"after +Inf":    {math.Inf(1), 5},
		"double +Inf":   {1, math.Inf(1), math.Inf(1)},
		"equal at tail": {0.1, 0.2, 0.2},
	} {
		mustPanic(t, "buckets "+name, func() { r.NewHistogram("b_"+strings.ReplaceAll(name, " ", "_"), "", b) })
	}
	c := r.NewCounter("ok_total", "")
	mustPanic(t, "Add(-1)", func() { c.Add(-1) })
	mustPanic(t, "Add(-Inf)", func() { c.Add(math.Inf(-1)) })
	mustPanic(t, "Add(NaN)", func() { c.Add(math.NaN()) })
	if c.Value() != 0 {
		t.Errorf("counter changed by rejected Add: %v", c.Value())
	}

	// Valid names are accepted, and names are per registry.
	r.NewCounter("a:b_total", "")
	r.NewCounterVec("_x", "", "_y")
	NewRegistry().NewCounter("dup_total", "")
}

func TestCounterAdd(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("add_total", "")
	c.Add(0)
	c.Add(2)
	c.Add(0.25)
	c.Inc()
	c.Add(1e300)
	c.Add(math.Inf(1))
	if c.Value() != math.Inf(1) {
		t.Errorf("Value = %v, want +Inf", c.Value())
	}
	c2 := r.NewCounter("add2_total", "")
	c2.Add(2)
	c2.Add(0.25)
	c2.Inc()
	c2.Add(1 << 60)
	if want := float64(1<<60) + 3.25; c2.Value() != want {
		t.Errorf("Value = %v, want %v", c2.Value(), want)
	}
}

func TestHistogramBuckets(t *testing.T) {
	r := NewRegistry()
	bounds := []float64{-1, 0, 1, 10}
	h := r.NewHistogram("h", "", bounds)
	// Each observation lands in the first bucket whose bound is >= it.
	for v, want := range map[float64]int{
		math.Inf(-1): 0, -5: 0, -1: 0, -0.5: 1, 0: 1, 0.5: 2, 1: 2, 1.0000001: 3, 10: 3, 10.5: 4, math.Inf(1): 4, math.NaN(): 4,
	} {
		before := h.counts[want].Load()
		h.Observe(v)
		if h.counts[want].Load() != before+1 {
			t.Errorf("Observe(%v) did not land in bucket %d", v, want)
		}
	}
	if h.Count() != 12 {
		t.Errorf("Count = %d, want 12", h.Count())
	}
	if !math.IsNaN(h.Sum()) {
		t.Errorf("Sum = %v, want NaN after observing NaN", h.Sum())
	}
	bounds[0] = 100 // the histogram keeps its own copy
	if h.upper[0] != -1 {
		t.Error("histogram aliases the caller's bucket slice")
	}
}

func TestConcurrency(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("conc_total", "")
	f := r.NewCounter("conc_float_total", "")
	v := r.NewCounterVec("conc_vec_total", "", "worker")
	h := r.NewHistogram("conc_seconds", "", []float64{1, 2, 3})

	const workers, iters = 8, 5000
	labels := []string{"a", "b", "c", "d\"e"}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				c.Inc()
				f.Add(0.5)
				v.Inc(labels[i%len(labels)])
				h.Observe(float64(i%4) + 0.5) // 0.5, 1.5, 2.5, 3.5: one per bucket
			}
		}()
	}
	// Scrape and register concurrently with the updates.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			var buf bytes.Buffer
			if _, err := r.WriteTo(&buf); err != nil {
				t.Error(err)
			}
			_ = r.NewCounter("late_"+string(rune('a'+i))+"_total", "")
		}
	}()
	wg.Wait()

	total := float64(workers * iters)
	if c.Value() != total {
		t.Errorf("counter = %v, want %v", c.Value(), total)
	}
	if f.Value() != total/2 {
		t.Errorf("float counter = %v, want %v", f.Value(), total/2)
	}
	for _, l := range labels {
		if got := v.Value(l); got != total/float64(len(labels)) {
			t.Errorf("vec[%q] = %v, want %v", l, got, total/float64(len(labels)))
		}
	}
	if h.Count() != uint64(total) {
		t.Errorf("histogram count = %d, want %v", h.Count(), total)
	}
	if want := total / 4 * (0.5 + 1.5 + 2.5 + 3.5); h.Sum() != want {
		t.Errorf("histogram sum = %v, want %v", h.Sum(), want)
	}
	for i := range h.counts {
		if got := h.counts[i].Load(); got != uint64(total/4) {
			t.Errorf("bucket %d = %d, want %v", i, got, total/4)
		}
	}

	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	fams := parse(t, buf.String())
	if got := fams["conc_total"].Metric[0].GetCounter().GetValue(); got != total {
		t.Errorf("scraped counter = %v, want %v", got, total)
	}
	if got := fams["conc_seconds"].Metric[0].GetHistogram().GetSampleCount(); got != uint64(total) {
		t.Errorf("scraped histogram count = %d, want %v", got, total)
	}
}

func TestZeroAllocs(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("alloc_total", "")
	v := r.NewCounterVec("alloc_vec_total", "", "l")
	h := r.NewHistogram("alloc_seconds", "", []float64{0.001, 0.01, 0.1, 1, 10})
	value := strings.Repeat("x", 3) // not a constant
	v.Inc(value)

	obs := 0.0
	for name, f := range map[string]func(){
		"Counter.Inc":           func() { c.Inc() },
		"Counter.Add":           func() { c.Add(0.5) },
		"CounterVec.Inc":        func() { v.Inc(value) },
		"Histogram.Observe":     func() { obs += 0.37; h.Observe(obs) },
		"Counter.Value":         func() { _ = c.Value() },
		"CounterVec.Value":      func() { _ = v.Value(value) },
		"Histogram.Count + Sum": func() { _, _ = h.Count(), h.Sum() },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

func BenchmarkCounterInc(b *testing.B) {
	c := NewRegistry().NewCounter("bench_total", "")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
		}
	})
}

func BenchmarkCounterVecInc(b *testing.B) {
	v := NewRegistry().NewCounterVec("bench_total", "", "l")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			v.Inc("allowed")
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewRegistry().NewHistogram("bench_seconds", "", []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
	b.RunParallel(func(pb *testing.PB) {
		x := 0.0
		for pb.Next() {
			x += 0.001
			h.Observe(x)
		}
	})
}

func BenchmarkWriteTo(b *testing.B) {
	r := NewRegistry()
	r.NewCounter("bench_total", "").Inc()
	v := r.NewCounterVec("bench_vec_total", "", "l")
	for _, l := range []string{"a", "b", "c"} {
		v.Inc(l)
	}
	r.NewHistogram("bench_seconds", "", []float64{0.1, 1, 10}).Observe(0.5)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.WriteTo(io.Discard)
	}
}
