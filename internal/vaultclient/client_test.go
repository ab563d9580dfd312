package vaultclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewIgnoresVaultEnvironment: VAULT_SKIP_VERIFY, VAULT_TOKEN, VAULT_NAMESPACE,
// VAULT_HEADERS, VAULT_ADDR and VAULT_CACERT in the environment change nothing.
func TestNewIgnoresVaultEnvironment(t *testing.T) {
	var seen http.Header
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"k": "v"}})
	}))
	defer srv.Close()
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	t.Setenv("VAULT_TOKEN", "env-token")
	t.Setenv("VAULT_NAMESPACE", "env-ns")
	t.Setenv("VAULT_HEADERS", `{"X-Env":"1"}`)
	t.Setenv("VAULT_ADDR", "https://elsewhere.invalid:8200")

	c, err := New(Options{Address: srv.URL})
	require.NoError(t, err)
	assert.Equal(t, srv.URL, c.Address())
	assert.Empty(t, c.Token())
	assert.Empty(t, c.Namespace())
	// The test server's certificate is self-signed: verification must fail.
	_, err = c.Logical().Read("secret/x")
	require.Error(t, err, "VAULT_SKIP_VERIFY in the environment turned TLS verification off")
	assert.Contains(t, err.Error(), "certificate")

	// Asked for explicitly, it is off, and the environment's token/namespace/headers stay out.
	c, err = New(Options{Address: srv.URL, TLS: TLS{SkipVerify: true}})
	require.NoError(t, err)
	tc, err := WithToken(c, "mine")
	require.NoError(t, err)
	_, err = tc.Logical().Read("secret/x")
	require.NoError(t, err)
	assert.Equal(t, "mine", seen.Get("X-Vault-Token"))
	assert.Empty(t, seen.Get("X-Vault-Namespace"))
	assert.Empty(t, seen.Get("X-Env"))
	assert.Equal(t, "true", seen.Get("X-Vault-Request"))
}

func TestWithTokenKeepsNamespace(t *testing.T) {
	var seen http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		_, _ = w.Write([]byte(`{"auth":{"client_token":"t1","lease_duration":60,"renewable":true}}`))
	}))
	defer srv.Close()
	t.Setenv("VAULT_NAMESPACE", "env-ns")
	c, err := New(Options{Address: srv.URL, Namespace: "team-a"})
	require.NoError(t, err)
	s, err := LoginJWT(context.Background(), c, AuthMount("", "kubernetes"), "app", "jwt")
	require.NoError(t, err)
	assert.Equal(t, "t1", s.Auth.ClientToken)
	assert.Equal(t, "team-a", seen.Get("X-Vault-Namespace"))
	assert.Empty(t, seen.Get("X-Vault-Token"), "a login carries no token")

	tc, err := WithToken(c, "t1")
	require.NoError(t, err)
	_, _ = tc.Logical().Read("secret/x")
	assert.Equal(t, "team-a", seen.Get("X-Vault-Namespace"))
	assert.Equal(t, "t1", seen.Get("X-Vault-Token"))
	assert.Empty(t, c.Token(), "WithToken leaves the original without a token")
}

func TestAuthMount(t *testing.T) {
	for in, want := range map[string]string{
		"": "auth/kubernetes", "kubernetes": "auth/kubernetes", "/auth/kubernetes/": "auth/kubernetes",
		"auth/k8s-prod": "auth/k8s-prod", "jwt-b": "auth/jwt-b",
	} {
		assert.Equal(t, want, AuthMount(in, "kubernetes"), in)
	}
}

func TestNewRequiresAddress(t *testing.T) {
	_, err := New(Options{})
	require.Error(t, err)
}

// An invalid VAULT_* variable is not used, but vault/api refuses to build a client: the
// error says what to do.
func TestNewNamesInvalidEnvironment(t *testing.T) {
	t.Setenv("VAULT_CACERT", "/nonexistent")
	_, err := New(Options{Address: "https://vault:8200"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "VAULT_* environment variables are not used")
}

// ProxyAddress carries requests to a non-loopback Vault; HTTPS_PROXY in the environment
// does not.
func TestProxyAddress(t *testing.T) {
	var proxied string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied = r.URL.String()
		_, _ = w.Write([]byte(`{"data":{}}`))
	}))
	defer proxy.Close()
	c, err := New(Options{Address: "http://vault.example:8200", ProxyAddress: proxy.URL})
	require.NoError(t, err)
	_, err = c.Logical().Read("secret/x")
	require.NoError(t, err)
	assert.Equal(t, "http://vault.example:8200/v1/secret/x", proxied)

	t.Setenv("HTTP_PROXY", proxy.URL)
	proxied = ""
	c, err = New(Options{Address: "http://vault.invalid:8200", Timeout: time.Second})
	require.NoError(t, err)
	_, err = c.Logical().Read("secret/x")
	require.Error(t, err, "no proxy from the environment: the name does not resolve")
	assert.Empty(t, proxied)

	_, err = New(Options{Address: "http://v:8200", ProxyAddress: "socks://x"})
	require.Error(t, err)
}
