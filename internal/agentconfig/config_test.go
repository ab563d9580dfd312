package agentconfig

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRoundTrip(t *testing.T) {
	retries := 3
	in := Config{
		Vault:     Vault{Address: "https://vault:8200", ClientMaxRetries: &retries, ProxyAddress: "http://proxy:3128"},
		Auth:      Auth{Type: "kubernetes", Path: "auth/kubernetes", Role: "web", TokenPath: "/var/run/secrets/vaultkube/serviceaccount/token"},
		Templates: []Template{{Name: "db", SecretPath: "secret/data/db", DefaultFormat: "map", Destination: "/vault/secrets/db"}},
		Mode:      "sidecar",
		ReadyFile: "/home/vault/ready",
	}
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	out, err := Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, in, *out)
}

func TestValidate(t *testing.T) {
	cases := map[string]struct {
		cfg     Config
		wantErr string
	}{
		"ok":         {cfg: Config{Vault: Vault{Address: "a"}, Auth: Auth{Role: "r"}, Mode: "exec"}},
		"no address": {cfg: Config{Auth: Auth{Role: "r"}, Mode: "init"}, wantErr: "vault.address"},
		"no role":    {cfg: Config{Vault: Vault{Address: "a"}, Mode: "init"}, wantErr: "auth.role"},
		"bad mode":   {cfg: Config{Vault: Vault{Address: "a"}, Auth: Auth{Role: "r"}, Mode: "daemon"}, wantErr: "mode"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestLoad(t *testing.T) {
	t.Setenv(EnvVar, "")
	_, err := Load()
	assert.ErrorContains(t, err, "is empty")
	t.Setenv(EnvVar, `{"vault":{"address":"a"},"auth":{"role":"r"},"mode":"init"}`)
	c, err := Load()
	require.NoError(t, err)
	assert.Equal(t, "init", c.Mode)
	t.Setenv(EnvVar, `{`)
	_, err = Load()
	assert.Error(t, err)
}
