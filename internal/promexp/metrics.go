package promexp

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// addFloat atomically adds v to the float64 stored as bits in u.
func addFloat(u *atomic.Uint64, v float64) {
	for {
		old := u.Load()
		if u.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Counter is a monotonically increasing value, exposed with TYPE counter.
// Its methods are safe for concurrent use and do not allocate.
type Counter struct {
	name, help string
	ints       atomic.Uint64 // sum of the whole-number increments
	frac       atomic.Uint64 // float64 bits of the sum of the other increments
}

// NewCounter registers and returns a new Counter. It panics if name is not a
// valid metric name or is already used in r.
func (r *Registry) NewCounter(name, help string) *Counter {
	c := &Counter{name: name, help: help}
	r.register(c)
	return c
}

// Inc adds 1 to the counter.
func (c *Counter) Inc() { c.ints.Add(1) }

// Add adds v to the counter. It panics if v is negative (or NaN), since a
// counter can only go up.
func (c *Counter) Add(v float64) {
	if !(v >= 0) {
		panic(fmt.Sprintf("promexp: counter %q cannot be increased by %v", c.name, v))
	}
	// Whole numbers go to the integer part: a single atomic add, and exact.
	if v < 1<<53 {
		if u := uint64(v); float64(u) == v {
			c.ints.Add(u)
			return
		}
	}
	addFloat(&c.frac, v)
}

// Value returns the current value of the counter.
func (c *Counter) Value() float64 {
	return float64(c.ints.Load()) + math.Float64frombits(c.frac.Load())
}

func (c *Counter) metricName() string    { return c.name }
func (c *Counter) sampleNames() []string { return []string{c.name} }

func (c *Counter) appendExposition(b []byte) []byte {
	b = appendHeader(b, c.name, c.help, "counter")
	return appendSample(b, c.name, "", "", c.Value())
}

// CounterVec is a family of counters distinguished by the value of a single
// label, exposed with TYPE counter. Its methods are safe for concurrent use;
// incrementing an already seen label value does not allocate.
type CounterVec struct {
	name, help, label string
	mu                sync.RWMutex
	values            map[string]*atomic.Uint64
}

// NewCounterVec registers and returns a new CounterVec with the given label
// name. It panics if name is not a valid metric name, label is not a valid
// label name, or name is already used in r.
func (r *Registry) NewCounterVec(name, help, label string) *CounterVec {
	if !validLabelName(label) {
		panic(fmt.Sprintf("promexp: invalid label name %q for metric %q", label, name))
	}
	v := &CounterVec{name: name, help: help, label: label, values: make(map[string]*atomic.Uint64)}
	r.register(v)
	return v
}

// Inc adds 1 to the counter with the given label value, creating it on first
// use. Label values should be valid UTF-8; invalid bytes are exposed as
// U+FFFD.
func (v *CounterVec) Inc(value string) {
	v.mu.RLock()
	c := v.values[value]
	v.mu.RUnlock()
	if c == nil {
		v.mu.Lock()
		if c = v.values[value]; c == nil {
			c = new(atomic.Uint64)
			v.values[value] = c
		}
		v.mu.Unlock()
	}
	c.Add(1)
}

// Value returns the counter for the given label value, or 0 if it was never
// incremented.
func (v *CounterVec) Value(value string) float64 {
	v.mu.RLock()
	c := v.values[value]
	v.mu.RUnlock()
	if c == nil {
		return 0
	}
	return float64(c.Load())
}

func (v *CounterVec) metricName() string    { return v.name }
func (v *CounterVec) sampleNames() []string { return []string{v.name} }

func (v *CounterVec) appendExposition(b []byte) []byte {
	type entry struct {
		value string
		c     *atomic.Uint64
	}
	v.mu.RLock()
	entries := make([]entry, 0, len(v.values))
	for k, c := range v.values {
		entries = append(entries, entry{k, c})
	}
	v.mu.RUnlock()
	slices.SortFunc(entries, func(a, b entry) int { return compareStrings(a.value, b.value) })

	b = appendHeader(b, v.name, v.help, "counter")
	for _, e := range entries {
		b = appendSample(b, v.name, v.label, e.value, float64(e.c.Load()))
	}
	return b
}

// Histogram counts observations into buckets, exposed with TYPE histogram.
// Its methods are safe for concurrent use and do not allocate.
type Histogram struct {
	name, help string
	upper      []float64       // bucket upper bounds, strictly ascending, without +Inf
	counts     []atomic.Uint64 // per bucket, not cumulative; the last one is the +Inf bucket
	sum        atomic.Uint64   // float64 bits

	sumName, countName string // name_sum and name_count, precomputed for scrapes
}

// NewHistogram registers and returns a new Histogram with the given bucket
// upper bounds, which must be strictly ascending; the +Inf bucket is implicit
// (a trailing +Inf bound is accepted and ignored). It panics if the buckets
// are not strictly ascending or contain NaN, if name is not a valid metric
// name, or if name, name_bucket, name_sum or name_count is already used in r.
func (r *Registry) NewHistogram(name, help string, buckets []float64) *Histogram {
	upper := slices.Clone(buckets)
	for i, u := range upper {
		if math.IsNaN(u) || i > 0 && !(u > upper[i-1]) {
			panic(fmt.Sprintf("promexp: histogram %q buckets are not strictly ascending: %v", name, buckets))
		}
	}
	if n := len(upper); n > 0 && math.IsInf(upper[n-1], 1) {
		upper = upper[:n-1]
	}
	h := &Histogram{
		name:   name,
		help:   help,
		upper:  upper,
		counts: make([]atomic.Uint64, len(upper)+1),

		sumName:   name + "_sum",
		countName: name + "_count",
	}
	r.register(h)
	return h
}

// Observe records v. NaN is counted in the +Inf bucket only and makes the
// sum NaN.
func (h *Histogram) Observe(v float64) {
	// Binary search for the first bucket whose upper bound is >= v.
	lo, hi := 0, len(h.upper)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.upper[mid] >= v {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	h.counts[lo].Add(1)
	addFloat(&h.sum, v)
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Sum returns the sum of all observations.
func (h *Histogram) Sum() float64 { return math.Float64frombits(h.sum.Load()) }

func (h *Histogram) metricName() string { return h.name }
func (h *Histogram) sampleNames() []string {
	return []string{h.name, h.name + "_bucket", h.sumName, h.countName}
}

func (h *Histogram) appendExposition(b []byte) []byte {
	b = appendHeader(b, h.name, h.help, "histogram")
	// _count is derived from the bucket counts read here so that it always
	// equals the +Inf bucket, even while observations are in flight.
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		b = append(b, h.name...)
		b = append(b, `_bucket{le="`...)
		if i < len(h.upper) {
			b = appendFloat(b, h.upper[i])
		} else {
			b = append(b, "+Inf"...)
		}
		b = append(b, `"} `...)
		b = appendFloat(b, float64(cum))
		b = append(b, '\n')
	}
	b = appendSample(b, h.sumName, "", "", h.Sum())
	return appendSample(b, h.countName, "", "", float64(cum))
}
