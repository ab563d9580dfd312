package agent

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

var validEnvName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

func FuzzEnvName(f *testing.F) {
	for _, s := range []string{"password", "db.port", "1st", "ключ", "a-b c", ""} {
		f.Add("DB_", s)
	}
	f.Fuzz(func(t *testing.T, prefix, key string) {
		got := envName(prefix, key)
		if prefix+key == "" {
			if got != "" {
				t.Fatalf("envName(%q, %q) = %q, want empty", prefix, key, got)
			}
			return
		}
		if !validEnvName.MatchString(got) {
			t.Fatalf("envName(%q, %q) = %q is not a valid variable name", prefix, key, got)
		}
	})
}

// FuzzTemplates feeds arbitrary injector-written templates and rendered outputs to the
// agent's parsers: they return errors, never panic.
func FuzzTemplates(f *testing.F) {
	f.Add(`[{"name":"db","secretPath":"secret/data/db","destination":"/vault/secrets/db","perms":"0400"}]`, `{"data":{"a":"b"},"metadata":{}}`)
	f.Add(`[{"name":"x","contents":"{{ .x }}","leftDelim":"[[","destination":"/a"},{"name":"y","source":"/t","destination":"/a"}]`, `text`)
	f.Add(`[{"defaultFormat":"json","secretPath":"p"}]`, `{"k":[1,2,{"x":null}]}`)
	f.Fuzz(func(t *testing.T, templates, rendered string) {
		var ts []agentconfig.Template
		if json.Unmarshal([]byte(templates), &ts) != nil {
			return
		}
		for _, execMode := range []bool{false, true} {
			rts, err := buildTemplates(ts, execMode)
			if err != nil {
				continue
			}
			for _, rt := range rts {
				vars, err := envVars(rt, []byte(rendered))
				if err != nil {
					continue
				}
				for k := range vars {
					if k != "" && !validEnvName.MatchString(k) {
						t.Fatalf("invalid variable name %q", k)
					}
				}
			}
		}
	})
}

func FuzzParsePerms(f *testing.F) {
	for _, s := range []string{"0644", "600", "", "0888", "-1", "7777777777777777777777"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := parsePerms(s)
		if err == nil && m > 0o7777 {
			t.Fatalf("parsePerms(%q) = %o, beyond 07777", s, m)
		}
	})
}
