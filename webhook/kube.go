package webhook

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// restConfig returns the kubeconfig's configuration, or the in-cluster one.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("in-cluster configuration: %w (pass --kubeconfig, or --tls-cert-file/--tls-key-file to run without the API)", err)
	}
	return cfg, nil
}

// kubeReachable reports whether API access is configured at all (kubeconfig or in a pod).
func (o *InjectorOptions) kubeReachable() bool {
	return o.Kubeconfig != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != ""
}

// discoverVersion asks the API server for its version until it answers, then sets it in
// the handler's configuration so that --native-sidecar=auto can decide.
func (o *InjectorOptions) discoverVersion(ctx context.Context, h *Handler) {
	cfg, err := restConfig(o.Kubeconfig)
	if err != nil {
		o.log.Warn("API server version unknown: native sidecars stay off under --native-sidecar=auto", "error", err)
		return
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		o.log.Warn("API server version unknown: native sidecars stay off under --native-sidecar=auto", "error", err)
		return
	}
	delay := time.Second
	for {
		v, err := dc.ServerVersion()
		if err == nil {
			c := h.Config()
			c.ServerVersion = v.GitVersion
			h.SetConfig(c)
			o.log.Info("API server version discovered", "version", v.GitVersion, "nativeSidecars", c.ServerSupportsNativeSidecars())
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
