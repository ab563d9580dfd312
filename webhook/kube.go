//go:build !nokube

package webhook

import (
	"context"
	"fmt"
	"os"

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

// discoverVersion asks the API server (kubeconfig or in-cluster, through client-go) for its
// version until it answers; see pollVersion.
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
	o.pollVersion(ctx, h, func(context.Context) (string, error) {
		v, err := dc.ServerVersion()
		if err != nil {
			return "", err
		}
		return v.GitVersion, nil
	})
}
