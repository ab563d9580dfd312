package csi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFlagsHaveEnvTwins(t *testing.T) {
	cmd := NewCmdProvider()
	t.Setenv(EnvName("vault-address"), "https://from-env:8200")
	t.Setenv(EnvName("read-concurrency"), "3")
	require.NoError(t, cmd.Flags().Parse([]string{"--read-concurrency", "5"}))
	require.NoError(t, (&ProviderOptions{}).Complete(cmd.Flags()))
	assert.Equal(t, "https://from-env:8200", cmd.Flags().Lookup("vault-address").Value.String())
	assert.Equal(t, "5", cmd.Flags().Lookup("read-concurrency").Value.String(), "the command line wins over the environment")
}

func TestValidate(t *testing.T) {
	good := ProviderOptions{Endpoint: "/run/p/vault.sock", ReadConcurrency: 8, RequestTimeout: 1, LogLevel: "info", LogFormat: "json"}
	require.NoError(t, good.Validate())
	for name, mut := range map[string]func(*ProviderOptions){
		"relative endpoint": func(o *ProviderOptions) { o.Endpoint = "vault.sock" },
		"no concurrency":    func(o *ProviderOptions) { o.ReadConcurrency = 0 },
		"bad level":         func(o *ProviderOptions) { o.LogLevel = "loud" },
		"bad format":        func(o *ProviderOptions) { o.LogFormat = "xml" },
		"bad address":       func(o *ProviderOptions) { o.Defaults.VaultAddress = "vault:8200" },
	} {
		o := good
		mut(&o)
		assert.Error(t, o.Validate(), name)
	}
}

// VAULT_SKIP_VERIFY in the provider's environment does not turn TLS checks off, for reads
// or for templates; only the class's vaultSkipTLSVerify does.
func TestTLSVerifiedDespiteEnvironment(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"auth":{"client_token":"t","lease_duration":60},"data":{"k":"v"}}`))
	}))
	defer srv.Close()
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	t.Setenv("VAULT_CAPATH", "")
	p := newTestProvider(t)
	for _, objs := range []string{"- {objectName: a, secretPath: kv/a, secretKey: k}", `- {objectName: a, vaultkube.io/template: '{{ with secret "kv/a" }}{{ .Data.k }}{{ end }}'}`} {
		_, err := p.Mount(context.Background(), attrs(srv.URL, "u", objs, nil), "")
		require.Error(t, err, objs)
		assert.Contains(t, err.Error(), "certificate", objs)
	}
	res, err := p.Mount(context.Background(), attrs(srv.URL, "u", "- {objectName: a, secretPath: kv/a, secretKey: k}", map[string]string{"vaultSkipTLSVerify": "true"}), "")
	require.NoError(t, err)
	assert.Equal(t, "v", string(res.Files[0].Contents))
}
