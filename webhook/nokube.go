//go:build nokube

package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// This file replaces autotls.go and kube.go in binaries built with -tags nokube
// (cmd/vaultkube-injector): no client-go, so a smaller webhook process that serves from
// certificate files and asks the API server for its version over plain HTTPS.

// kubeClient is unused without client-go.
type kubeClient = any

// serviceAccountDir holds the pod's API credentials.
var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func (o *InjectorOptions) startAutoTLS(context.Context, *Handler) (certSource, error) {
	return nil, errors.New("automatic TLS is not in this binary (built without the Kubernetes client): pass --tls-cert-file and --tls-key-file, or run `vaultkube injector`")
}

// kubeReachable: this binary reaches the API only from inside a pod.
func (o *InjectorOptions) kubeReachable() bool {
	return o.Kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != ""
}

// discoverVersion asks the API server for its version with the pod's service-account
// credentials; see pollVersion.
func (o *InjectorOptions) discoverVersion(ctx context.Context, h *Handler) {
	o.pollVersion(ctx, h, inClusterVersion)
}

// inClusterVersion reads GET /version from the API server the pod's environment names.
func inClusterVersion(ctx context.Context) (string, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	token, err := os.ReadFile(filepath.Join(serviceAccountDir, "token"))
	if err != nil {
		return "", err
	}
	caPEM, err := os.ReadFile(filepath.Join(serviceAccountDir, "ca.crt"))
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return "", fmt.Errorf("%s/ca.crt holds no certificate", serviceAccountDir)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/version", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /version: %s", resp.Status)
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.GitVersion == "" {
		return "", fmt.Errorf("GET /version: no gitVersion in the answer")
	}
	return v.GitVersion, nil
}
