package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ctconfig "github.com/hashicorp/consul-template/config"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// The default templates, as vault-k8s writes them into vault agent's configuration when a
// secret has no template of its own (agent-inject-default-template: map or json).
const (
	defaultMapTemplate  = "{{ with secret %s }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
	defaultJSONTemplate = "{{ with secret %s }}{{ .Data | toJSON }}\n{{ end }}"

	defaultPerms os.FileMode = 0o644
	// envDestinationPrefix names the in-memory destination of a template in exec mode; it is
	// never a file.
	envDestinationPrefix = "env:"
)

// defaultTemplate returns the template text for a secret without its own template. The
// secret path is quoted as a Go string, which for ordinary paths is exactly vault-k8s's
// `"PATH"`. Custom delimiters replace {{ and }} so that the default template parses with
// the delimiters the user asked for (vault-k8s keeps {{ }} in the text and breaks).
func defaultTemplate(secretPath, format, left, right string) (string, error) {
	if secretPath == "" {
		return "", fmt.Errorf("needs contents, source or secretPath")
	}
	var text string
	switch format {
	case "", "map":
		text = fmt.Sprintf(defaultMapTemplate, strconv.Quote(secretPath))
	case "json":
		text = fmt.Sprintf(defaultJSONTemplate, strconv.Quote(secretPath))
	default:
		return "", fmt.Errorf("defaultFormat %q is not one of map, json", format)
	}
	if (left != "" && left != "{{") || (right != "" && right != "}}") {
		l, r := left, right
		if l == "" {
			l = "{{"
		}
		if r == "" {
			r = "}}"
		}
		text = strings.NewReplacer("{{", l, "}}", r).Replace(text)
	}
	return text, nil
}

// parsePerms reads an octal file mode such as "0644" or "644"; empty means 0644.
func parsePerms(s string) (os.FileMode, error) {
	if s == "" {
		return defaultPerms, nil
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("perms %q is not an octal file mode such as 0644", s)
	}
	if v > 0o777 {
		return 0, fmt.Errorf("perms %q: only permission bits up to 0777 are allowed (setuid, setgid and sticky bits are refused)", s)
	}
	return os.FileMode(v), nil
}

// renderTemplate is one template as the agent renders it: the consul-template config plus
// what the agent does itself (the command after render, the environment mapping).
type renderTemplate struct {
	name        string
	destination string // a file path, or envDestinationPrefix+name in exec mode
	perms       os.FileMode
	command     []string
	envPrefix   string
	// defaultData is true when the text is a default template: in exec mode the secret's
	// keys become variables.
	defaultData bool
	ct          *ctconfig.TemplateConfig
}

// buildTemplates turns the injector's templates into consul-template configs. In exec mode
// nothing is written to disk: every template renders in memory under a synthetic
// destination, and default templates render the secret's data as JSON.
func buildTemplates(ts []agentconfig.Template, execMode bool) ([]*renderTemplate, error) {
	out := make([]*renderTemplate, 0, len(ts))
	seen := map[string]string{}
	for i, t := range ts {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i)
		}
		fail := func(err error) ([]*renderTemplate, error) {
			return nil, fmt.Errorf("agent config: template %s: %w", name, err)
		}
		perms, err := parsePerms(t.Perms)
		if err != nil {
			return fail(err)
		}
		if t.Contents != "" && t.Source != "" {
			return fail(fmt.Errorf("contents and source are both set; use one"))
		}
		rt := &renderTemplate{name: name, perms: perms, command: t.Command, envPrefix: t.EnvPrefix}
		ct := &ctconfig.TemplateConfig{
			ErrMissingKey: ctconfig.Bool(t.ErrorOnMissingKey),
			ErrFatal:      ctconfig.Bool(true),
			Perms:         ctconfig.FileMode(perms),
			// Commands run in the agent, as argv (consul-template would run a one-element
			// command with spaces through sh, and the image has no shell).
			Command:        []string{},
			CreateDestDirs: ctconfig.Bool(true),
		}
		if t.LeftDelim != "" {
			ct.LeftDelim = ctconfig.String(t.LeftDelim)
		}
		if t.RightDelim != "" {
			ct.RightDelim = ctconfig.String(t.RightDelim)
		}
		switch {
		case t.Source != "":
			ct.Source = ctconfig.String(t.Source)
		case t.Contents != "":
			ct.Contents = ctconfig.String(t.Contents)
		default:
			format := t.DefaultFormat
			if format != "" && format != "map" && format != "json" {
				return fail(fmt.Errorf("defaultFormat %q is not one of map, json", format))
			}
			if execMode {
				format = "json"
			}
			text, err := defaultTemplate(t.SecretPath, format, t.LeftDelim, t.RightDelim)
			if err != nil {
				return fail(err)
			}
			ct.Contents = ctconfig.String(text)
			rt.defaultData = true
		}
		if execMode {
			rt.destination = envDestinationPrefix + name
		} else {
			if t.Destination == "" {
				return fail(fmt.Errorf("destination is empty (only exec mode renders without a file)"))
			}
			if !filepath.IsAbs(t.Destination) {
				return fail(fmt.Errorf("destination %q is not an absolute path", t.Destination))
			}
			rt.destination = filepath.Clean(t.Destination)
		}
		if other, dup := seen[rt.destination]; dup {
			return fail(fmt.Errorf("destination %s is also used by template %s", rt.destination, other))
		}
		seen[rt.destination] = name
		ct.Destination = ctconfig.String(rt.destination)
		rt.ct = ct
		out = append(out, rt)
	}
	return out, nil
}

// envName maps a secret key to an environment variable name: prefix+key upper-cased, every
// character outside [A-Z0-9_] replaced by '_', and a leading digit guarded by '_'.
func envName(prefix, key string) string {
	s := strings.ToUpper(prefix + key)
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	s = string(b)
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

// envVars turns one rendered template into environment variables. A default template
// rendered the secret's data as JSON: each key becomes a variable (for KV v2, the keys of
// .Data.data). A custom template whose output is a JSON object is mapped the same way; any
// other output becomes one variable named after the template.
func envVars(rt *renderTemplate, contents []byte) (map[string]string, error) {
	out := map[string]string{}
	var obj map[string]any
	if err := json.Unmarshal(contents, &obj); err != nil || obj == nil {
		if rt.defaultData {
			if strings.TrimSpace(string(contents)) == "" {
				return nil, fmt.Errorf("template %s: the secret has no data", rt.name)
			}
			return nil, fmt.Errorf("template %s: the secret's data is not a JSON object", rt.name)
		}
		name := envName(rt.envPrefix, rt.name)
		if agentconfig.HijackingEnvName(name) {
			return nil, hijackError(rt, rt.name, name)
		}
		out[name] = strings.TrimSuffix(string(contents), "\n")
		return out, nil
	}
	if rt.defaultData {
		obj = unwrapKVv2(obj)
	}
	for k, v := range obj {
		name := envName(rt.envPrefix, k)
		if name == "" {
			continue
		}
		if agentconfig.HijackingEnvName(name) {
			return nil, hijackError(rt, k, name)
		}
		switch v := v.(type) {
		case string:
			out[name] = v
		case nil:
			out[name] = ""
		default:
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("template %s: key %s: %w", rt.name, k, err)
			}
			out[name] = string(raw)
		}
	}
	return out, nil
}

// hijackError refuses a secret key that would become a variable such as LD_PRELOAD or
// PATH, which takes over the process (issue 18): the app does not start.
func hijackError(rt *renderTemplate, key, name string) error {
	return fmt.Errorf("template %s: key %q would set %s, which can take over the process: refused (rename the key or give the secret another prefix, vaultkube.io/env-prefix-%s)", rt.name, key, name, rt.name)
}

// unwrapKVv2 returns .data when obj has the shape of a KV v2 read ({data: {...},
// metadata: {...}}), else obj itself.
func unwrapKVv2(obj map[string]any) map[string]any {
	if len(obj) != 2 {
		return obj
	}
	data, ok := obj["data"].(map[string]any)
	if _, hasMeta := obj["metadata"]; !ok || !hasMeta {
		return obj
	}
	return data
}
