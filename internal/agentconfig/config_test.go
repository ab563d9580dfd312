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
		// issue 18 item 5: exec mode needs a prefix that cannot name LD_PRELOAD and the like
		"exec with prefix": {cfg: Config{Vault: Vault{Address: "a"}, Auth: Auth{Role: "r"}, Mode: "exec",
			Templates: []Template{{Name: "db", EnvPrefix: "DB_"}}}},
		"exec without prefix": {cfg: Config{Vault: Vault{Address: "a"}, Auth: Auth{Role: "r"}, Mode: "exec",
			Templates: []Template{{Name: "db"}}}, wantErr: "template db has no envPrefix"},
		"exec with LD_ prefix": {cfg: Config{Vault: Vault{Address: "a"}, Auth: Auth{Role: "r"}, Mode: "exec",
			Templates: []Template{{Name: "db", EnvPrefix: "ld_"}}}, wantErr: `envPrefix "ld_" names variables that take over the process`},
		"file mode ignores prefixes": {cfg: Config{Vault: Vault{Address: "a"}, Auth: Auth{Role: "r"}, Mode: "init",
			Templates: []Template{{Name: "db"}}}},
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

func TestHijackingEnvName(t *testing.T) {
	for _, n := range []string{"LD_PRELOAD", "ld_library_path", "LD_AUDIT", "PATH", "HOME", "SHELL", "IFS", "BASH_ENV", "ENV",
		"GCONV_PATH", "NODE_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PERL5OPT", "RUBYOPT", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
		"BASH_FUNC_X__", "DYLD_INSERT_LIBRARIES", EnvVar} {
		assert.True(t, HijackingEnvName(n), n)
	}
	for _, n := range []string{"DB_PASSWORD", "PATH_PREFIX", "MY_PATH", "HOMER", "LD", "API_KEY", "ENVIRONMENT", "HTTPS_PROXY"} {
		assert.False(t, HijackingEnvName(n), n)
	}
	assert.True(t, HijackingEnvPrefix("LD_"))
	assert.True(t, HijackingEnvPrefix("ld_x_"))
	assert.False(t, HijackingEnvPrefix("L"), "keys decide: the agent checks each name")
	assert.False(t, HijackingEnvPrefix("DB_"))
}
