package injector

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/version"
)

// DefaultAgentImage is the agent image when neither the flag nor the annotation sets one.
const DefaultAgentImage = "vaultkube/vaultkube:dev"

// DefaultTokenAudience is the audience of the agent's projected service-account token when
// neither the flag nor the annotation sets one. A token with the API server's own audience
// would let Vault (or anyone who reads it on the way) call the API server as the pod.
const DefaultTokenAudience = "vault"

// Native sidecar modes of Config.NativeSidecar.
const (
	NativeAuto  = "auto"
	NativeTrue  = "true"
	NativeFalse = "false"
)

// SystemNamespaces hold the cluster's own pods: their pods are never mutated, whatever
// --skip-namespaces says.
var SystemNamespaces = []string{"kube-system", "kube-public"}

// Config holds the cluster-wide defaults of the injector (flags of `vaultkube injector`).
// Annotations override most of them per pod.
type Config struct {
	VaultAddress   string
	VaultNamespace string
	ProxyAddress   string
	AgentImage     string
	// AgentBinary is the path of the vaultkube (or vaultkube-agent) binary in AgentImage.
	AgentBinary string
	AuthType    string
	AuthPath    string
	// DefaultTemplate is "map" or "json".
	DefaultTemplate string
	// StaticSecretRenderInterval is how often the agents re-read static secrets (a duration
	// or seconds; empty: the agent's default).
	StaticSecretRenderInterval string
	LogLevel                   string
	LogFormat                  string

	RequestsCPU, RequestsMem, RequestsEphemeral string
	LimitsCPU, LimitsMem, LimitsEphemeral       string

	RunAsUser          int64
	RunAsGroup         int64
	RunAsSameUser      bool
	SetSecurityContext bool
	RevokeOnShutdown   bool

	// NativeSidecar is auto, true or false. Auto uses a native sidecar unless ServerVersion
	// is known and below 1.29.
	NativeSidecar string
	// ServerVersion is the API server's version (for example "v1.37.2"), set by the webhook
	// from discovery; empty when unknown.
	ServerVersion string

	// TokenAudience and TokenExpirationSeconds shape the agent's projected token.
	TokenAudience          string
	TokenExpirationSeconds int64

	// SecretsVolumeSizeLimit caps the memory emptyDir that holds rendered secrets.
	SecretsVolumeSizeLimit string

	// EnvModeWarnOnly makes env mode skip (with a warning) containers without an explicit
	// command instead of denying the pod.
	EnvModeWarnOnly bool

	// SkipNamespaces are never mutated, besides SystemNamespaces.
	SkipNamespaces []string
}

// DefaultConfig returns the defaults documented in the annotation table.
func DefaultConfig() Config {
	return Config{
		AgentImage:             DefaultAgentImage,
		AgentBinary:            AgentBinary,
		AuthType:               "kubernetes",
		AuthPath:               "auth/kubernetes",
		DefaultTemplate:        "map",
		LogLevel:               "info",
		LogFormat:              "standard",
		RequestsCPU:            "250m",
		RequestsMem:            "64Mi",
		LimitsCPU:              "500m",
		LimitsMem:              "128Mi",
		RunAsUser:              100,
		RunAsGroup:             1000,
		SetSecurityContext:     true,
		NativeSidecar:          NativeAuto,
		TokenAudience:          DefaultTokenAudience,
		TokenExpirationSeconds: 3600,
		SecretsVolumeSizeLimit: "16Mi",
	}
}

// Validate checks the configuration once at startup, so that admission never fails on it.
func (c Config) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.VaultAddress != "" {
		if err := checkURL(c.VaultAddress); err != nil {
			add("vault address: %v", err)
		}
	}
	if c.ProxyAddress != "" {
		if err := checkURL(c.ProxyAddress); err != nil {
			add("proxy address: %v", err)
		}
	}
	if c.AgentImage == "" {
		add("agent image must not be empty")
	}
	if c.AgentBinary != "" {
		if err := checkAbsPath(c.AgentBinary); err != nil {
			add("agent binary: %v", err)
		}
	}
	if err := checkOneOf("kubernetes", "jwt")(c.AuthType); err != nil {
		add("auth type: %v", err)
	}
	if c.AuthPath == "" {
		add("auth path must not be empty")
	}
	if err := checkOneOf("map", "json")(c.DefaultTemplate); err != nil {
		add("default template: %v", err)
	}
	if c.StaticSecretRenderInterval != "" {
		if err := checkDuration(c.StaticSecretRenderInterval); err != nil {
			add("static secret render interval: %v", err)
		}
	}
	for name, q := range map[string]string{
		"requests cpu": c.RequestsCPU, "requests memory": c.RequestsMem, "requests ephemeral storage": c.RequestsEphemeral,
		"limits cpu": c.LimitsCPU, "limits memory": c.LimitsMem, "limits ephemeral storage": c.LimitsEphemeral,
		"secrets volume size limit": c.SecretsVolumeSizeLimit,
	} {
		if err := checkQuantity(q); err != nil {
			add("%s: %v", name, err)
		}
	}
	if err := checkOneOf(NativeAuto, NativeTrue, NativeFalse)(c.NativeSidecar); err != nil {
		add("native sidecar: %v", err)
	}
	if c.ServerVersion != "" {
		if _, err := version.ParseGeneric(c.ServerVersion); err != nil {
			add("server version %q: %v", c.ServerVersion, err)
		}
	}
	if c.TokenExpirationSeconds < 600 {
		add("token expiration must be at least 600 seconds (Kubernetes' minimum), got %d", c.TokenExpirationSeconds)
	}
	if c.RunAsUser < 0 || c.RunAsGroup < 0 {
		add("run-as user and group must not be negative")
	}
	if len(problems) > 0 {
		return fmt.Errorf("injector configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// ServerSupportsNativeSidecars reports whether the API server serves native sidecars:
// ServerVersion is at least 1.29, or unknown (empty or unreadable), since every supported
// Kubernetes release is. Assuming less would give a Job's pod a classic sidecar that
// keeps it running after its work is done.
func (c Config) ServerSupportsNativeSidecars() bool {
	if c.ServerVersion == "" {
		return true
	}
	v, err := version.ParseGeneric(c.ServerVersion)
	if err != nil {
		return true // unknown
	}
	return v.AtLeast(version.MajorMinor(1, 29)) // native sidecars are on by default from 1.29
}

// agentArgv is the agent binary followed by "agent" and args.
func (c Config) agentArgv(args ...string) []string {
	bin := c.AgentBinary
	if bin == "" {
		bin = AgentBinary
	}
	return append(append(make([]string, 0, 2+len(args)), bin, "agent"), args...)
}

// sizeLimit is the size limit of the secrets volume; ok is false for none.
func (c Config) sizeLimit() (q resource.Quantity, ok bool) {
	if c.SecretsVolumeSizeLimit == "" || checkQuantity(c.SecretsVolumeSizeLimit) != nil {
		return q, false
	}
	return resource.MustParse(c.SecretsVolumeSizeLimit), true
}
