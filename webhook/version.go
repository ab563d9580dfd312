package webhook

import (
	"context"
	"time"
)

// pollVersion asks the API server for its version (get) until it answers, then sets it in
// the handler's configuration so that --native-sidecar=auto can decide.
func (o *InjectorOptions) pollVersion(ctx context.Context, h *Handler, get func(context.Context) (string, error)) {
	delay := time.Second
	for {
		v, err := get(ctx)
		if err == nil {
			c := h.Config()
			c.ServerVersion = v
			h.SetConfig(c)
			o.log.Info("API server version discovered", "version", v, "nativeSidecars", c.ServerSupportsNativeSidecars())
			return
		}
		o.log.Warn("asking the API server for its version", "error", err, "retryIn", delay.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if delay < time.Minute {
			delay *= 2
		}
	}
}
