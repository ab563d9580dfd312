//go:build unix

package promexp

import "syscall"

// cpuSeconds returns the user plus system CPU time of the process.
func cpuSeconds() (float64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return timevalSeconds(ru.Utime) + timevalSeconds(ru.Stime), true
}

func timevalSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}
