// Package poll repeats a check until it holds, a deadline passes or the context ends.
package poll

import (
	"context"
	"time"
)

// Until calls fn every interval until it returns true or an error. After timeout it returns
// context.DeadlineExceeded; when ctx ends, ctx's error. fn runs at least once, and its
// calls are not bounded by timeout (each bounds its own work).
func Until(ctx context.Context, timeout, interval time.Duration, fn func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := fn()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
