// Package agentconfig is the contract between the injector and the agent: the injector
// writes a Config as JSON into the agent container's environment (EnvVar), the agent reads
// it back. It holds no secrets: only paths, roles and templates.
package agentconfig

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// EnvVar is the environment variable that carries the agent's JSON configuration.
const EnvVar = "VAULTKUBE_AGENT_CONFIG"

// Config is everything the agent needs to log in, render and keep secrets fresh.
type Config struct {
	Vault     Vault      `json:"vault"`
	Auth      Auth       `json:"auth"`
	Templates []Template `json:"templates,omitempty"`
	// Mode is "init" (render once and exit), "sidecar" (render and keep renewing) or
	// "exec" (render into the environment of a child process).
	Mode string `json:"mode"`
	// ExitAfterAuth stops after a successful login (vault-k8s agent-pre-populate-only style).
	ExitAfterAuth bool `json:"exitAfterAuth,omitempty"`
	// TokenSinkPath, when set, is where the Vault token is written (agent-inject-token).
	TokenSinkPath string `json:"tokenSinkPath,omitempty"`
	// RevokeOnShutdown revokes the token when the agent stops.
	RevokeOnShutdown bool `json:"revokeOnShutdown,omitempty"`
	// ReadyFile is touched once the first render is complete (for the startup probe).
	ReadyFile string `json:"readyFile,omitempty"`
	// StaticSecretRenderInterval is how often static secrets are re-read (Go duration).
	StaticSecretRenderInterval string `json:"staticSecretRenderInterval,omitempty"`
	// LogLevel is debug, info, warn or error; LogFormat is standard or json.
	LogLevel  string `json:"logLevel,omitempty"`
	LogFormat string `json:"logFormat,omitempty"`
}

// Vault says where Vault is and how to trust it.
type Vault struct {
	Address       string `json:"address"`
	Namespace     string `json:"namespace,omitempty"`
	CACert        string `json:"caCert,omitempty"`
	CAPath        string `json:"caPath,omitempty"`
	ClientCert    string `json:"clientCert,omitempty"`
	ClientKey     string `json:"clientKey,omitempty"`
	TLSServerName string `json:"tlsServerName,omitempty"`
	TLSSkipVerify bool   `json:"tlsSkipVerify,omitempty"`
	// ClientMaxRetries and ClientTimeout follow vault-k8s's agent-client-* annotations.
	ClientMaxRetries *int   `json:"clientMaxRetries,omitempty"`
	ClientTimeout    string `json:"clientTimeout,omitempty"`
	// ProxyAddress is an HTTP(S) proxy for requests to Vault (vault-k8s proxy-address).
	// The injector also sets HTTPS_PROXY in the agent container.
	ProxyAddress string `json:"proxyAddress,omitempty"`
}

// Auth says how to log in.
type Auth struct {
	// Type is "kubernetes" or "jwt".
	Type string `json:"type"`
	// Path is the auth mount path, for example "auth/kubernetes".
	Path string `json:"path"`
	Role string `json:"role"`
	// TokenPath is the file holding the service-account (or JWT) token.
	TokenPath string `json:"tokenPath"`
	// Config carries extra login parameters (auth-config-* annotations).
	Config map[string]string `json:"config,omitempty"`
}

// Template is one rendered file.
type Template struct {
	// Name is the secret name from agent-inject-secret-<name>.
	Name string `json:"name"`
	// Path is the Vault path the default template reads.
	SecretPath string `json:"secretPath,omitempty"`
	// Contents is the consul-template text; empty means the default template for SecretPath.
	Contents string `json:"contents,omitempty"`
	// Source is a template file inside the pod (agent-inject-template-file-<name>).
	Source string `json:"source,omitempty"`
	// DefaultFormat is "map" or "json" when Contents and Source are empty.
	DefaultFormat string `json:"defaultFormat,omitempty"`
	// Destination is the absolute file path to write; empty for exec (env) mode.
	Destination string `json:"destination,omitempty"`
	// Perms is the file mode, for example "0644".
	Perms      string `json:"perms,omitempty"`
	LeftDelim  string `json:"leftDelim,omitempty"`
	RightDelim string `json:"rightDelim,omitempty"`
	// Command runs after each render (agent-inject-command-<name>), as argv.
	Command []string `json:"command,omitempty"`
	// ErrorOnMissingKey fails the render when a key is missing.
	ErrorOnMissingKey bool `json:"errorOnMissingKey,omitempty"`
	// EnvPrefix names the variables in exec mode: every key K of the secret becomes PREFIX+K.
	EnvPrefix string `json:"envPrefix,omitempty"`
}

// Load reads the Config from the environment.
func Load() (*Config, error) {
	raw := os.Getenv(EnvVar)
	if raw == "" {
		return nil, fmt.Errorf("%s is empty: the agent needs its configuration (the injector sets it)", EnvVar)
	}
	return Parse([]byte(raw))
}

// Parse decodes and validates a Config.
func Parse(raw []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvVar, err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the fields every mode needs.
func (c *Config) Validate() error {
	switch {
	case c.Vault.Address == "":
		return fmt.Errorf("agent config: vault.address is required")
	case c.Auth.Role == "" && c.Auth.Type != "token":
		return fmt.Errorf("agent config: auth.role is required")
	}
	switch c.Mode {
	case "init", "sidecar", "exec":
	default:
		return fmt.Errorf("agent config: mode %q is not one of init, sidecar, exec", c.Mode)
	}
	// (empty: the default; not parsed, as the error of an empty duration allocates and the
	// injector checks every agent's configuration)
	if s := c.StaticSecretRenderInterval; s != "" {
		if d, err := time.ParseDuration(s); err != nil || d <= 0 {
			return fmt.Errorf("agent config: staticSecretRenderInterval %q is not a positive duration", s)
		}
	}
	if c.Mode == "exec" {
		for _, t := range c.Templates {
			switch {
			case t.EnvPrefix == "":
				return fmt.Errorf("agent config: template %s has no envPrefix: in exec mode its keys would name any variable (PATH, LD_PRELOAD, ...)", t.Name)
			case HijackingEnvPrefix(t.EnvPrefix):
				return fmt.Errorf("agent config: template %s: envPrefix %q names variables that take over the process", t.Name, t.EnvPrefix)
			}
		}
	}
	if s := c.Vault.ClientTimeout; s != "" {
		if d, err := time.ParseDuration(s); err != nil || d < 0 {
			return fmt.Errorf("agent config: vault.clientTimeout %q is not a duration", s)
		}
	}
	return nil
}
