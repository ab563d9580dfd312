//go:build !unix

package promexp

// cpuSeconds is not implemented on this platform; the metric is omitted.
func cpuSeconds() (float64, bool) { return 0, false }
