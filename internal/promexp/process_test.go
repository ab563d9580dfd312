package promexp

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStartTime(t *testing.T) {
	// Field 22 (starttime) is 12345 ticks; the command name contains spaces
	// and parentheses.
	stat := []byte("42 (we ird) (name) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 50 18446744073709551615\n")
	procStat := []byte("cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n")
	got, ok := parseStartTime(stat, procStat)
	if !ok || got != 1700000000+123.45 {
		t.Fatalf("parseStartTime = %v, %v; want 1700000123.45, true", got, ok)
	}
	for name, in := range map[string][2]string{
		"no paren":   {"42 comm S 1", string(procStat)},
		"short":      {"42 (c) S 1 2 3", string(procStat)},
		"no btime":   {string(stat), "cpu 1 2 3\n"},
		"bad btime":  {string(stat), "btime x\n"},
		"bad ticks":  {"42 (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 x 1000", string(procStat)},
		"empty stat": {"", string(procStat)},
	} {
		if _, ok := parseStartTime([]byte(in[0]), []byte(in[1])); ok {
			t.Errorf("%s: parseStartTime succeeded, want failure", name)
		}
	}
}

func TestStandardMetricValues(t *testing.T) {
	before := time.Now()
	r := NewRegistry()
	vals := map[string]float64{}
	for _, m := range r.snapshot() {
		f := m.(*funcMetric)
		if v, ok := f.fn(); ok {
			vals[f.name] = v
		}
	}
	if v := vals["go_goroutines"]; v < 1 {
		t.Errorf("go_goroutines = %v, want >= 1", v)
	}
	if v := vals["go_memstats_heap_inuse_bytes"]; v <= 0 {
		t.Errorf("go_memstats_heap_inuse_bytes = %v, want > 0", v)
	}
	if _, ok := vals["process_cpu_seconds_total"]; !ok && runtime.GOOS != "windows" {
		t.Errorf("process_cpu_seconds_total missing")
	}
	start, ok := vals["process_start_time_seconds"]
	if !ok {
		t.Fatal("process_start_time_seconds missing")
	}
	now := float64(time.Now().UnixNano()) / 1e9
	// The test binary started shortly before this test; allow for coarse
	// btime (whole seconds) and tick resolution.
	if start > now+2 || start < float64(before.Unix())-3600 {
		t.Errorf("process_start_time_seconds = %v, now is %v", start, now)
	}
	if _, err := os.Stat("/proc/self/statm"); err == nil {
		if v := vals["process_resident_memory_bytes"]; v <= 0 {
			t.Errorf("process_resident_memory_bytes = %v, want > 0", v)
		}
	} else if _, ok := vals["process_resident_memory_bytes"]; ok {
		t.Errorf("process_resident_memory_bytes present without /proc")
	}
}
