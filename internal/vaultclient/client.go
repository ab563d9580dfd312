// Package vaultclient builds Vault API clients and logs them in, for the agent, the CSI
// provider and the pivot's source client. Every setting comes from the caller: unlike
// vault/api's DefaultConfig, nothing is read from VAULT_* environment variables, so an app's
// environment (env mode) or a node's can never turn TLS checks off, point the client
// elsewhere or hand it a token.
package vaultclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/hashicorp/vault/api"
	"golang.org/x/net/http/httpproxy"
	"golang.org/x/net/http2"
)

// TLS is the client side of TLS to Vault. Empty fields keep the defaults: the system's CA
// pool, the server name from the address, certificate verification on.
type TLS struct {
	CACert     string // PEM file of CA certificates
	CAPath     string // directory of PEM CA certificates
	ClientCert string // PEM client certificate (with ClientKey)
	ClientKey  string
	ServerName string
	SkipVerify bool // only when the user asks for it explicitly
}

// Options configure New.
type Options struct {
	Address   string // required: https://vault.vault.svc:8200
	Namespace string // Vault Enterprise namespace, "" for none
	TLS       TLS
	// MaxRetries on 5xx and connection errors; nil keeps vault/api's default (2).
	MaxRetries *int
	// Timeout of one request; 0 keeps vault/api's default (60s).
	Timeout time.Duration
	// MaxIdleConnsPerHost, 0 for the default of cleanhttp's pooled transport.
	MaxIdleConnsPerHost int
	// ProxyAddress is an http(s) proxy for every request, "" for none. HTTPS_PROXY and
	// the like in the environment are not used.
	ProxyAddress string
}

// New returns a client with no token for o. It never reads VAULT_* environment variables:
// vault/api's NewClient applies VAULT_TOKEN, VAULT_NAMESPACE and VAULT_HEADERS after the
// config, and New undoes all three.
func New(o Options) (*api.Client, error) {
	if o.Address == "" {
		return nil, errors.New("vault client: no Vault address")
	}
	cfg := &api.Config{
		Address:      o.Address,
		HttpClient:   cleanhttp.DefaultPooledClient(),
		Timeout:      60 * time.Second,
		MinRetryWait: time.Second,
		MaxRetryWait: 1500 * time.Millisecond,
		MaxRetries:   2,
		Backoff:      retryablehttp.RateLimitLinearJitterBackoff,
	}
	tr := cfg.HttpClient.Transport.(*http.Transport)
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.Proxy = nil // proxies come from the caller, not the environment
	if o.ProxyAddress != "" {
		u, err := url.Parse(o.ProxyAddress)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("vault client: proxy address %q is not an http(s) URL", o.ProxyAddress)
		}
		// As HTTPS_PROXY would be (vault-k8s's proxy-address sets it for vault agent):
		// requests to loopback addresses do not go through the proxy.
		pf := (&httpproxy.Config{HTTPProxy: o.ProxyAddress, HTTPSProxy: o.ProxyAddress}).ProxyFunc()
		tr.Proxy = func(r *http.Request) (*url.URL, error) { return pf(r.URL) }
	}
	if o.MaxIdleConnsPerHost > 0 {
		tr.MaxIdleConnsPerHost = o.MaxIdleConnsPerHost
	}
	if err := http2.ConfigureTransport(tr); err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	// vault/api handles redirects itself (standby forwarding).
	cfg.HttpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if err := cfg.ConfigureTLS(&api.TLSConfig{
		CACert:        o.TLS.CACert,
		CAPath:        o.TLS.CAPath,
		ClientCert:    o.TLS.ClientCert,
		ClientKey:     o.TLS.ClientKey,
		TLSServerName: o.TLS.ServerName,
		Insecure:      o.TLS.SkipVerify,
	}); err != nil {
		return nil, fmt.Errorf("vault client TLS: %w", err)
	}
	if o.MaxRetries != nil {
		cfg.MaxRetries = *o.MaxRetries
	}
	if o.Timeout > 0 {
		cfg.Timeout = o.Timeout
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		// vault/api validates the VAULT_* environment even when nothing of it is used.
		return nil, fmt.Errorf("vault client: %w (VAULT_* environment variables are not used, but vault/api refuses invalid ones: unset them)", err)
	}
	c.ClearToken()
	c.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}})
	if o.Namespace != "" {
		c.SetNamespace(o.Namespace)
	} else {
		c.ClearNamespace()
	}
	return c, nil
}

// AuthMount returns the login path's mount for an auth method mounted at path ("" means the
// method's default mount typ): "auth/kubernetes" for "", "kubernetes", "/auth/kubernetes/".
func AuthMount(path, typ string) string {
	p := strings.Trim(path, "/")
	if p == "" {
		p = typ
	}
	if !strings.HasPrefix(p, "auth/") {
		p = "auth/" + p
	}
	return p
}

// LoginJWT logs in through a JWT-style login path (Kubernetes and JWT/OIDC auth both take
// {role, jwt} at <mount>/login) and returns the auth secret. The client's token is not
// used or changed.
func LoginJWT(ctx context.Context, c *api.Client, mount, role, jwt string) (*api.Secret, error) {
	s, err := c.Logical().WriteWithContext(ctx, mount+"/login", map[string]any{"role": role, "jwt": jwt})
	if err != nil {
		return nil, err
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, fmt.Errorf("%s/login returned no token", mount)
	}
	return s, nil
}

// WithToken returns a copy of c (same address, TLS, namespace and headers) that uses tok.
func WithToken(c *api.Client, tok string) (*api.Client, error) {
	tc, err := c.Clone()
	if err != nil {
		return nil, err
	}
	// Clone goes through api.NewClient, which reads VAULT_TOKEN, VAULT_NAMESPACE and
	// VAULT_HEADERS again: c's headers (namespace included) replace whatever that added.
	tc.SetHeaders(c.Headers())
	tc.SetToken(tok)
	return tc, nil
}
