package agent

import (
	"errors"
	"fmt"
	"os"
)

// ErrNotReady is returned by the probe while the first render is not complete.
var ErrNotReady = errors.New("not ready")

// probe succeeds iff the ready file exists: the native sidecar's startup probe (the image
// has no shell for `test -f`).
func probe(readyFile string) error {
	if readyFile == "" {
		return errors.New("agent config: readyFile is empty: the probe has nothing to check")
	}
	if _, err := os.Stat(readyFile); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s does not exist yet", ErrNotReady, readyFile)
		}
		return fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	return nil
}
