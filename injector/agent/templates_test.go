package agent

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

func TestDefaultTemplate(t *testing.T) {
	tests := []struct {
		name, path, format, left, right string
		want                            string
		wantErr                         string
	}{
		{
			name: "map is vault-k8s's DefaultMapTemplate", path: "secret/data/app",
			want: "{{ with secret \"secret/data/app\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}",
		},
		{
			name: "empty format is map", path: "db/creds/ro", format: "map",
			want: "{{ with secret \"db/creds/ro\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}",
		},
		{
			name: "json is vault-k8s's DefaultJSONTemplate", path: "secret/data/app", format: "json",
			want: "{{ with secret \"secret/data/app\" }}{{ .Data | toJSON }}\n{{ end }}",
		},
		{
			name: "custom delimiters replace braces", path: "secret/data/app", format: "json", left: "[[", right: "]]",
			want: "[[ with secret \"secret/data/app\" ]][[ .Data | toJSON ]]\n[[ end ]]",
		},
		{
			name: "one custom delimiter", path: "p", format: "json", left: "<%",
			want: "<% with secret \"p\" }}<% .Data | toJSON }}\n<% end }}",
		},
		{name: "no path", format: "map", wantErr: "secretPath"},
		{name: "unknown format", path: "p", format: "yaml", wantErr: `defaultFormat "yaml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := defaultTemplate(tc.path, tc.format, tc.left, tc.right)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParsePerms(t *testing.T) {
	tests := []struct {
		in      string
		want    os.FileMode
		wantErr bool
	}{
		{"", 0o644, false},
		{"0644", 0o644, false},
		{"0400", 0o400, false},
		{"600", 0o600, false},
		{"0755", 0o755, false},
		{"0888", 0, true},
		{"rw-r--r--", 0, true},
		{"17777", 0, true},
		{"0777", 0o777, false},
		// issue 18 item 5: permission bits only, no setuid, setgid or sticky bit
		{"4755", 0, true},
		{"02755", 0, true},
		{"1777", 0, true},
		{"7777", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parsePerms(tc.in)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestBuildTemplates(t *testing.T) {
	t.Run("file mode", func(t *testing.T) {
		ts, err := buildTemplates([]agentconfig.Template{
			{Name: "db", SecretPath: "secret/data/db", Destination: "/vault/secrets/db", Perms: "0400",
				Command: []string{"/bin/reload", "--now"}, ErrorOnMissingKey: true},
			{Name: "custom", Contents: "[[ .x ]]", LeftDelim: "[[", RightDelim: "]]", Destination: "/vault/secrets/c"},
			{Name: "file", Source: "/etc/tmpl", Destination: "/vault/secrets/f"},
		}, false)
		require.NoError(t, err)
		require.Len(t, ts, 3)

		db := ts[0]
		assert.Equal(t, "/vault/secrets/db", db.destination)
		assert.Equal(t, os.FileMode(0o400), db.perms)
		assert.True(t, db.defaultData)
		assert.Equal(t, []string{"/bin/reload", "--now"}, db.command)
		assert.Equal(t, "/vault/secrets/db", *db.ct.Destination)
		assert.True(t, *db.ct.ErrMissingKey)
		assert.Contains(t, *db.ct.Contents, `with secret "secret/data/db"`)
		assert.Empty(t, db.ct.Command, "commands run in the agent as argv, not in consul-template")

		assert.Equal(t, "[[", *ts[1].ct.LeftDelim)
		assert.Equal(t, "]]", *ts[1].ct.RightDelim)
		assert.False(t, ts[1].defaultData)
		assert.Equal(t, "/etc/tmpl", *ts[2].ct.Source)
		assert.Nil(t, ts[2].ct.Contents)
	})

	t.Run("exec mode renders in memory and default templates as JSON", func(t *testing.T) {
		ts, err := buildTemplates([]agentconfig.Template{
			{Name: "db", SecretPath: "secret/data/db", DefaultFormat: "map", EnvPrefix: "DB_"},
		}, true)
		require.NoError(t, err)
		assert.Equal(t, "env:db", ts[0].destination)
		assert.Contains(t, *ts[0].ct.Contents, "toJSON")
		assert.Equal(t, "DB_", ts[0].envPrefix)
	})

	errs := []struct {
		name string
		t    agentconfig.Template
		want string
	}{
		{"no destination", agentconfig.Template{Name: "a", SecretPath: "p"}, "destination is empty"},
		{"relative destination", agentconfig.Template{Name: "a", SecretPath: "p", Destination: "secrets/a"}, "not an absolute path"},
		{"contents and source", agentconfig.Template{Name: "a", Contents: "x", Source: "/y", Destination: "/a"}, "both set"},
		{"bad perms", agentconfig.Template{Name: "a", SecretPath: "p", Destination: "/a", Perms: "abc"}, `perms "abc"`},
		{"nothing to render", agentconfig.Template{Name: "a", Destination: "/a"}, "needs contents, source or secretPath"},
		{"bad default format", agentconfig.Template{Name: "a", SecretPath: "p", Destination: "/a", DefaultFormat: "ini"}, "defaultFormat"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := buildTemplates([]agentconfig.Template{tc.t}, false)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "template a")
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	t.Run("duplicate destination", func(t *testing.T) {
		_, err := buildTemplates([]agentconfig.Template{
			{Name: "a", SecretPath: "p", Destination: "/vault/secrets/x"},
			{Name: "b", SecretPath: "q", Destination: "/vault/secrets/./x"},
		}, false)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "also used by template a")
	})
}

func TestEnvName(t *testing.T) {
	tests := []struct{ prefix, key, want string }{
		{"", "password", "PASSWORD"},
		{"DB_", "user-name", "DB_USER_NAME"},
		{"db_", "api.key", "DB_API_KEY"},
		{"", "1st", "_1ST"},
		{"", "ключ", "________"}, // UTF-8 bytes, each replaced
		{"APP_", "a b", "APP_A_B"},
		{"", "", ""},
		{"X", "", "X"},
	}
	for _, tc := range tests {
		t.Run(tc.prefix+"|"+tc.key, func(t *testing.T) {
			assert.Equal(t, tc.want, envName(tc.prefix, tc.key))
		})
	}
}

func TestEnvVars(t *testing.T) {
	kv2 := `{"data":{"username":"alice","password":"s3cr3t","port":5432,"tags":["a","b"],"none":null},` +
		`"metadata":{"version":3}}` + "\n"
	tests := []struct {
		name     string
		rt       renderTemplate
		contents string
		want     map[string]string
		wantErr  string
	}{
		{
			name: "default template, KV v2 is unwrapped", rt: renderTemplate{name: "db", defaultData: true, envPrefix: "DB_"},
			contents: kv2,
			want: map[string]string{"DB_USERNAME": "alice", "DB_PASSWORD": "s3cr3t", "DB_PORT": "5432",
				"DB_TAGS": `["a","b"]`, "DB_NONE": ""},
		},
		{
			name: "default template, KV v1", rt: renderTemplate{name: "db", defaultData: true},
			contents: `{"user":"bob","data":"x"}`,
			want:     map[string]string{"USER": "bob", "DATA": "x"},
		},
		{
			name: "custom JSON object", rt: renderTemplate{name: "c", envPrefix: "C_"},
			contents: `{"url":"postgres://x"}`,
			want:     map[string]string{"C_URL": "postgres://x"},
		},
		{
			name: "custom text is one variable named after the template", rt: renderTemplate{name: "db-url", envPrefix: "APP_"},
			contents: "postgres://u:p@h/db\n",
			want:     map[string]string{"APP_DB_URL": "postgres://u:p@h/db"},
		},
		// issue 18 item 5: a secret key never becomes a variable that takes over the process
		{
			name: "key LD_PRELOAD is refused", rt: renderTemplate{name: "db", defaultData: true, envPrefix: "LD_"},
			contents: `{"preload":"/tmp/x.so"}`, wantErr: `key "preload" would set LD_PRELOAD, which can take over the process`,
		},
		{
			name: "key PATH with a prefix that completes it is refused", rt: renderTemplate{name: "p", envPrefix: "P"},
			contents: `{"ath":"/evil"}`, wantErr: "would set PATH",
		},
		{
			name: "key node_options is refused", rt: renderTemplate{name: "c", envPrefix: "NODE_"},
			contents: `{"options":"--require /x.js"}`, wantErr: "would set NODE_OPTIONS",
		},
		{
			name: "custom text named like a hijacking variable is refused", rt: renderTemplate{name: "path", envPrefix: ""},
			contents: "/evil\n", wantErr: "would set PATH",
		},
		{
			name: "default template with empty output", rt: renderTemplate{name: "db", defaultData: true},
			contents: "", wantErr: "no data",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := envVars(&tc.rt, []byte(tc.contents))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestChildEnv(t *testing.T) {
	ts := []*renderTemplate{{name: "db", destination: "env:db", defaultData: true}}
	contents := map[string][]byte{"env:db": []byte(`{"data":{"password":"p","lang":"de"},"metadata":{}}`)}
	base := []string{"PATH=/bin", agentconfig.EnvVar + `={"mode":"exec"}`, "LANG=C", "PASSWORD_HINT=x"}
	env, n, err := childEnv(base, ts, contents)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []string{"PATH=/bin", "PASSWORD_HINT=x", "LANG=de", "PASSWORD=p"}, env,
		"agent config removed, secrets win over and follow the inherited variables")

	// issue 18: a secret never replaces HOME, PATH, LD_PRELOAD and the like
	_, _, err = childEnv(base, ts, map[string][]byte{"env:db": []byte(`{"data":{"password":"p","home":"/secret"},"metadata":{}}`)})
	assert.ErrorContains(t, err, `key "home" would set HOME, which can take over the process`)

	_, _, err = childEnv(base, ts, map[string][]byte{})
	assert.ErrorContains(t, err, "did not render")
}

func TestConfigContract(t *testing.T) {
	// The injector writes this JSON; the agent must accept every field it uses.
	raw := `{"vault":{"address":"https://vault:8200","caCert":"/vault/tls/ca.crt","tlsServerName":"vault"},
	  "auth":{"type":"kubernetes","path":"auth/kubernetes","role":"app","tokenPath":"/var/run/secrets/vaultkube/token"},
	  "mode":"sidecar","readyFile":"/vault/secrets/.ready","revokeOnShutdown":true,"logFormat":"json",
	  "templates":[{"name":"db","secretPath":"secret/data/db","destination":"/vault/secrets/db","perms":"0400"}]}`
	cfg, err := agentconfig.Parse([]byte(raw))
	require.NoError(t, err)
	o := &RunOptions{Config: cfg}
	require.NoError(t, o.Validate())

	var back map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &back))
	cfg.Templates[0].Destination = "relative"
	assert.ErrorContains(t, o.Validate(), "not an absolute path")
}
