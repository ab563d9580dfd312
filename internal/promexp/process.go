package promexp

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the time fields in /proc/<pid>/stat. It is
// sysconf(_SC_CLK_TCK), which cannot be queried without cgo and is 100 on
// every mainstream Linux architecture.
const userHZ = 100

// funcMetric is a metric whose single sample is computed at scrape time. The
// whole family is omitted when fn reports that the value is unavailable.
type funcMetric struct {
	name, help, typ string
	fn              func() (float64, bool)
}

func (f *funcMetric) metricName() string    { return f.name }
func (f *funcMetric) sampleNames() []string { return []string{f.name} }

func (f *funcMetric) appendExposition(b []byte) []byte {
	v, ok := f.fn()
	if !ok {
		return b
	}
	b = appendHeader(b, f.name, f.help, f.typ)
	return appendSample(b, f.name, "", "", v)
}

// registerStandard adds the process and runtime metrics. created is used as
// the process start time when it cannot be read from /proc.
func (r *Registry) registerStandard(created time.Time) {
	start, ok := procStartTime()
	if !ok {
		start = float64(created.UnixNano()) / 1e9
	}
	for _, m := range []*funcMetric{
		{"go_goroutines", "Number of goroutines that currently exist.", "gauge",
			func() (float64, bool) { return float64(runtime.NumGoroutine()), true }},
		{"go_memstats_heap_inuse_bytes", "Number of heap bytes in in-use spans.", "gauge", heapInuseBytes},
		{"process_resident_memory_bytes", "Resident memory size in bytes.", "gauge", residentMemoryBytes},
		{"process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", "gauge",
			func() (float64, bool) { return start, true }},
		{"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter", cpuSeconds},
	} {
		r.register(m)
	}
}

// heapInuseBytes returns the equivalent of runtime.MemStats.HeapInuse (bytes
// in in-use heap spans: live and not yet swept objects plus fragmentation),
// read through runtime/metrics, which does not stop the world.
func heapInuseBytes() (float64, bool) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
	}
	metrics.Read(samples)
	if samples[0].Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	total := samples[0].Value.Uint64()
	if samples[1].Value.Kind() == metrics.KindUint64 {
		total += samples[1].Value.Uint64()
	}
	return float64(total), true
}

// residentMemoryBytes reads the resident set size from /proc/self/statm.
func residentMemoryBytes() (float64, bool) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(pages) * float64(os.Getpagesize()), true
}

// procStartTime returns the process start time in seconds since the Unix
// epoch, from the starttime field of /proc/self/stat and the boot time in
// /proc/stat.
func procStartTime() (float64, bool) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	boot, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	return parseStartTime(stat, boot)
}

// parseStartTime computes the start time from the contents of
// /proc/self/stat and /proc/stat.
func parseStartTime(stat, procStat []byte) (float64, bool) {
	// The command name (field 2) is in parentheses and may itself contain
	// spaces and parentheses, so count fields from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	const startTimeIndex = 22 - 3 // field 22, counted from field 3 (state)
	if len(fields) <= startTimeIndex {
		return 0, false
	}
	ticks, err := strconv.ParseUint(fields[startTimeIndex], 10, 64)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(procStat))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "btime ")
		if !ok {
			continue
		}
		btime, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
		if err != nil {
			return 0, false
		}
		return float64(btime) + float64(ticks)/userHZ, true
	}
	return 0, false
}
