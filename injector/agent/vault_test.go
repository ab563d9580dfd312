package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// The integration tests run a real Vault dev server built by `make deps`.
const vaultVersion = "v1.21.1"

func vaultBinary() string {
	if p := os.Getenv("VAULTKUBE_VAULT_BIN"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "vaultkube", "bin", "vault")
}

// testVault is a Vault dev server with KV v2 at secret/, JWT auth at auth/jwt with roles
// "app" (1 h tokens) and "short" (2 s tokens, 6 s max), and the key that signs their JWTs.
type testVault struct {
	addr, root string
	caCert     string // TLS dev server: its CA
	dir        string
	cmd        *exec.Cmd
	rootClient *api.Client
	key        *ecdsa.PrivateKey
	startErr   error
	stdout     *bytes.Buffer
}

var (
	sharedOnce, tlsOnce sync.Once
	shared, sharedTLS   *testVault
)

// sharedVault starts (once) and returns the Vault dev server, or skips the test loudly when
// the binary has not been built.
func sharedVault(t testing.TB) *testVault {
	t.Helper()
	bin := vaultBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("SKIPPED: integration test needs the Vault %s binary at %s, which does not exist: "+
			"run `make deps` to build it (or set VAULTKUBE_VAULT_BIN)", vaultVersion, bin)
	}
	sharedOnce.Do(func() { shared = startVault(bin, false) })
	if shared.startErr != nil {
		t.Fatalf("start vault dev server: %v\n%s", shared.startErr, shared.stdout)
	}
	return shared
}

// sharedTLSVault is sharedVault serving HTTPS with a generated CA (-dev-tls).
func sharedTLSVault(t testing.TB) *testVault {
	t.Helper()
	bin := vaultBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("SKIPPED: integration test needs the Vault %s binary at %s, which does not exist: "+
			"run `make deps` to build it (or set VAULTKUBE_VAULT_BIN)", vaultVersion, bin)
	}
	tlsOnce.Do(func() { sharedTLS = startVault(bin, true) })
	if sharedTLS.startErr != nil {
		t.Fatalf("start vault dev server with TLS: %v\n%s", sharedTLS.startErr, sharedTLS.stdout)
	}
	return sharedTLS
}

func stopSharedVault() {
	for _, v := range []*testVault{shared, sharedTLS} {
		if v != nil && v.cmd != nil && v.cmd.Process != nil {
			_ = v.cmd.Process.Kill()
			_ = v.cmd.Wait()
			_ = os.RemoveAll(v.dir)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startVault(bin string, tls bool) *testVault {
	v := &testVault{root: "vaultkube-test-root", stdout: &bytes.Buffer{}}
	fail := func(err error) *testVault { v.startErr = err; return v }
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	v.addr = fmt.Sprintf("http://127.0.0.1:%d", port)
	v.dir, err = os.MkdirTemp("", "vaultkube-vault-")
	if err != nil {
		return fail(err)
	}
	args := []string{"server", "-dev", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port)}
	if tls {
		v.addr = fmt.Sprintf("https://127.0.0.1:%d", port)
		v.caCert = filepath.Join(v.dir, "vault-ca.pem")
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+v.dir)
	}
	v.cmd = exec.Command(bin, args...)
	// Its own HOME: the dev server writes ~/.vault-token.
	// The root token travels in the environment, never in argv.
	v.cmd.Env = []string{"HOME=" + v.dir, "PATH=/usr/bin:/bin", "VAULT_DEV_ROOT_TOKEN_ID=" + v.root}
	v.cmd.Stdout, v.cmd.Stderr = v.stdout, v.stdout
	if err := v.cmd.Start(); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var c *api.Client
	for {
		if c == nil && (!tls || fileExists(v.caCert)) {
			if c, err = v.newClient(); err != nil {
				return fail(err)
			}
			c.SetToken(v.root)
			v.rootClient = c
		}
		if c == nil {
			if time.Now().After(deadline) {
				return fail(fmt.Errorf("no %s after 30s", v.caCert))
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		h, err := c.Sys().Health()
		if err == nil && h.Initialized && !h.Sealed {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("vault at %s not healthy after 30s: %v", v.addr, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := v.configure(); err != nil {
		return fail(err)
	}
	return v
}

func (v *testVault) configure() error {
	c := v.rootClient
	if err := c.Sys().PutPolicy("read-secrets", `
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
path "pki/issue/app" { capabilities = ["create", "update"] }
path "auth/token/create" { capabilities = ["create", "update"] }
`); err != nil {
		return err
	}
	if err := c.Sys().Mount("pki", &api.MountInput{Type: "pki", Config: api.MountConfigInput{MaxLeaseTTL: "87600h"}}); err != nil {
		return err
	}
	if _, err := c.Logical().Write("pki/root/generate/internal", map[string]any{"common_name": "vaultkube test CA", "ttl": "8760h"}); err != nil {
		return err
	}
	if _, err := c.Logical().Write("pki/roles/app", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true, "max_ttl": "72h"}); err != nil {
		return err
	}
	if err := c.Sys().EnableAuthWithOptions("jwt", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	v.key = key
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if _, err := c.Logical().Write("auth/jwt/config", map[string]any{"jwt_validation_pubkeys": []string{pub}}); err != nil {
		return err
	}
	for role, ttl := range map[string][2]string{"app": {"1h", "2h"}, "short": {"2s", "6s"}} {
		if _, err := c.Logical().Write("auth/jwt/role/"+role, map[string]any{
			"role_type": "jwt", "bound_audiences": []string{"vault"}, "user_claim": "sub",
			"token_policies": []string{"read-secrets"}, "token_ttl": ttl[0], "token_max_ttl": ttl[1],
		}); err != nil {
			return err
		}
	}
	return nil
}

// signJWT returns an ES256 JWT for sub, audience "vault", valid for an hour.
func (v *testVault) signJWT(t testing.TB, sub string) string {
	t.Helper()
	now := time.Now().Unix()
	return v.signClaims(t, map[string]any{"sub": sub, "aud": "vault", "iat": now - 5, "nbf": now - 5, "exp": now + 3600})
}

// signClaims returns an ES256 JWT of claims, signed with the key of auth/jwt's config.
func (v *testVault) signClaims(t testing.TB, claims map[string]any) string {
	t.Helper()
	enc := func(x any) string {
		b, err := json.Marshal(x)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, v.key, sum[:])
	require.NoError(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// writeJWT writes a fresh JWT into dir and returns its path (the projected token file).
func (v *testVault) writeJWT(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(p, []byte(v.signJWT(t, "system:serviceaccount:default:app")+"\n"), 0o600))
	return p
}

// putKV writes data at secret/<path> (KV v2).
func (v *testVault) putKV(t testing.TB, path string, data map[string]any) {
	t.Helper()
	_, err := v.rootClient.KVv2("secret").Put(context.Background(), path, data)
	require.NoError(t, err)
}

// config returns an agent config logging in with JWT auth as role.
func (v *testVault) config(t testing.TB, mode, role string, templates ...agentconfig.Template) *agentconfig.Config {
	t.Helper()
	dir := t.TempDir()
	return &agentconfig.Config{
		Vault:     agentconfig.Vault{Address: v.addr, CACert: v.caCert},
		Auth:      agentconfig.Auth{Type: "jwt", Path: "auth/jwt", Role: role, TokenPath: v.writeJWT(t, dir)},
		Mode:      mode,
		Templates: templates,
		LogLevel:  "debug",
	}
}

// secretName returns a KV path unique to the test.
func secretName(t testing.TB) string {
	return "tests/" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

// fastTuning keeps failing tests short.
func fastTuning() Tuning {
	return Tuning{
		Login:          RetryPolicy{Attempts: 2, Backoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		Render:         RetryPolicy{Attempts: 2, Backoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		RestartBackoff: 200 * time.Millisecond,
	}
}

// syncBuffer is a bytes.Buffer safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clientWithToken returns a client for the dev server that uses tok.
func (v *testVault) clientWithToken(t testing.TB, tok string) *api.Client {
	t.Helper()
	c, err := v.newClient()
	require.NoError(t, err)
	c.SetToken(tok)
	return c
}

func (v *testVault) newClient() (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = v.addr
	cfg.MaxRetries = 0
	if v.caCert != "" {
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: v.caCert}); err != nil {
			return nil, err
		}
	}
	return api.NewClient(cfg)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
