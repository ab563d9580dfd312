//go:build !race

package agent

// raceEnabled is true under the race detector.
const raceEnabled = false
