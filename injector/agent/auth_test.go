package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

func TestAuthParams(t *testing.T) {
	role, path := authParams(agentconfig.Auth{Role: "app"}, discardLogger())
	assert.Equal(t, "app", role)
	assert.Equal(t, "/var/run/secrets/kubernetes.io/serviceaccount/token", path, "kubernetes default token path")

	role, path = authParams(agentconfig.Auth{Type: "jwt", Role: "app", TokenPath: "/t",
		Config: map[string]string{"role": "other", "path": "/jwt", "remove_jwt_after_reading": "true"}}, discardLogger())
	assert.Equal(t, "other", role, "auth-config-role wins")
	assert.Equal(t, "/jwt", path, "auth-config-path wins")
}

func TestLoginErrors(t *testing.T) {
	c, err := newVaultClient(agentconfig.Vault{Address: "http://127.0.0.1:1"})
	require.NoError(t, err)
	dir := t.TempDir()

	_, err = login(context.Background(), c, agentconfig.Auth{Type: "jwt", Role: "r", TokenPath: filepath.Join(dir, "none")}, discardLogger())
	assert.ErrorContains(t, err, "read jwt token")

	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	_, err = login(context.Background(), c, agentconfig.Auth{Role: "r", TokenPath: empty}, discardLogger())
	assert.ErrorContains(t, err, "is empty")

	_, err = login(context.Background(), c, agentconfig.Auth{Type: "ldap", Role: "r"}, discardLogger())
	assert.ErrorContains(t, err, `auth.type "ldap"`)

	// Bounded retries end with ErrLogin naming method, mount and role.
	p := RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	start := time.Now()
	_, err = loginWithRetry(context.Background(), c, agentconfig.Auth{Role: "app", TokenPath: empty}, p, discardLogger())
	assert.ErrorIs(t, err, ErrLogin)
	assert.ErrorContains(t, err, "after 3 attempts (method kubernetes, mount auth/kubernetes, role \"app\")")
	assert.Less(t, time.Since(start), 5*time.Second)

	// The end of the context ends unbounded retries.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = loginWithRetry(ctx, c, agentconfig.Auth{Role: "app", TokenPath: empty}, RetryPolicy{Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, discardLogger())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestNewVaultClient(t *testing.T) {
	t.Setenv("VAULT_TOKEN", "from-env")
	retries := 0
	c, err := newVaultClient(agentconfig.Vault{Address: "https://vault:8200", Namespace: "team", ClientMaxRetries: &retries, ClientTimeout: "7s", TLSSkipVerify: true})
	require.NoError(t, err)
	assert.Empty(t, c.Token(), "never a token from the environment")
	assert.Equal(t, "team", c.Namespace())
	assert.Equal(t, "https://vault:8200", c.Address())
	assert.Equal(t, 7*time.Second, c.ClientTimeout())
	assert.Equal(t, 0, c.MaxRetries())

	_, err = newVaultClient(agentconfig.Vault{Address: "http://v", ClientTimeout: "soon"})
	assert.ErrorContains(t, err, "clientTimeout")
	_, err = newVaultClient(agentconfig.Vault{Address: "https://v", CACert: "/does/not/exist.pem"})
	assert.ErrorContains(t, err, "TLS")
}

func TestLatest(t *testing.T) {
	l := make(latest, 1)
	l.put("a")
	l.put("b")
	assert.Equal(t, "b", <-l, "a newer token replaces one not taken yet")
}

func TestApplyProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("HTTP_PROXY", "http://already:3128")
	require.NoError(t, os.Unsetenv("HTTPS_PROXY"))

	set, err := applyProxy("http://proxy.example:3128")
	require.NoError(t, err)
	assert.Equal(t, []string{"HTTPS_PROXY"}, set, "a variable already set is kept")
	assert.Equal(t, "http://proxy.example:3128", os.Getenv("HTTPS_PROXY"))
	assert.Equal(t, "http://already:3128", os.Getenv("HTTP_PROXY"))

	set, err = applyProxy("")
	assert.NoError(t, err)
	assert.Empty(t, set)
	_, err = applyProxy("proxy.example:3128")
	assert.ErrorContains(t, err, "proxyAddress")
}

func TestNewVaultClientCertificate(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "agent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))

	c, err := newVaultClient(agentconfig.Vault{Address: "https://vault:8200", ClientCert: certFile, ClientKey: keyFile})
	require.NoError(t, err)
	tr, ok := c.CloneConfig().HttpClient.Transport.(*http.Transport)
	require.True(t, ok)
	require.NotNil(t, tr.TLSClientConfig.GetClientCertificate, "the client certificate is presented")
	cert, err := tr.TLSClientConfig.GetClientCertificate(nil)
	require.NoError(t, err)
	assert.Equal(t, der, cert.Certificate[0])

	_, err = newVaultClient(agentconfig.Vault{Address: "https://vault:8200", ClientCert: certFile, ClientKey: filepath.Join(dir, "missing.key")})
	assert.ErrorContains(t, err, "TLS")
}

// The app's environment (env mode) must not turn TLS checks off or hand the agent a token.
func TestVaultClientIgnoresVaultEnvironment(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":{}}`))
	}))
	defer srv.Close()
	t.Setenv("VAULT_SKIP_VERIFY", "1")
	t.Setenv("VAULT_TOKEN", "from-env")
	c, err := newVaultClient(agentconfig.Vault{Address: srv.URL})
	require.NoError(t, err)
	assert.Empty(t, c.Token())
	_, err = c.Logical().Read("secret/x")
	require.Error(t, err, "VAULT_SKIP_VERIFY turned verification off")
	assert.Contains(t, err.Error(), "certificate")
}
