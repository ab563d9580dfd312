package injector

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Spec is the validated, typed form of a pod's annotations merged with the Config defaults.
// Everything downstream of ParseAnnotations reads the Spec, never the annotations.
type Spec struct {
	Secrets []Secret

	// Containers are the names from agent-inject-containers; nil means all.
	Containers []string

	InitFirst       bool
	PrePopulate     bool
	PrePopulateOnly bool
	InjectToken     bool
	// NativeSidecar is the vaultkube.io/agent-native-sidecar override; nil follows Config.
	NativeSidecar *bool

	Image             string
	ExtraSecret       string
	TLSSecret         string
	RequestsCPU       string
	RequestsMem       string
	RequestsEphemeral string
	LimitsCPU         string
	LimitsMem         string
	LimitsEphemeral   string

	RevokeOnShutdown bool
	VaultAddress     string
	VaultNamespace   string
	ProxyAddress     string
	CACert           string
	CAPath           string
	ClientCert       string
	ClientKey        string
	TLSServerName    string
	TLSSkipVerify    bool
	ClientMaxRetries *int
	ClientTimeout    string
	GoMaxProcs       string
	LogLevel         string
	LogFormat        string

	Role       string
	AuthType   string
	AuthPath   string
	AuthConfig map[string]string

	SecretVolumePath           string
	DefaultTemplate            string
	StaticSecretRenderInterval string

	SetSecurityContext bool
	// RunAsUser and RunAsGroup are set only when the annotation is present.
	RunAsUser     *int64
	RunAsGroup    *int64
	RunAsSameUser bool

	ShareProcessNamespace *bool
	TokenVolumeName       string
	// TokenPath overrides the agent's token file (auth-config-token-path).
	TokenPath            string
	CopyVolumeMountsFrom string
	TokenAudience        string

	JSONPatch     string
	InitJSONPatch string

	// Env turns on env mode (vaultkube.io/agent-inject-env).
	Env bool
}

// Secret is one rendered secret (agent-inject-secret-<name> and its companions).
type Secret struct {
	// Name is the secret name as used in file names (lower-cased unless preserve-secret-case).
	Name string
	// RawName is the suffix exactly as written in the annotation keys.
	RawName string
	// Path is the Vault path.
	Path         string
	Template     string
	TemplateFile string
	LeftDelim    string
	RightDelim   string
	// File is the file name relative to MountPath.
	File      string
	MountPath string
	Perms     string
	Command   []string
	// ErrorOnMissingKey fails the render on a missing key.
	ErrorOnMissingKey bool
	EnvPrefix         string
}

// Destination is the absolute path the agent writes the secret to.
func (s Secret) Destination() string { return path.Join(s.MountPath, s.File) }

// AnnotationError is a denial reason: an annotation and what is wrong with it.
type AnnotationError struct {
	Key     string
	Problem string
}

func (e *AnnotationError) Error() string { return fmt.Sprintf("annotation %s: %s", e.Key, e.Problem) }

// ParseAnnotations validates the vault.hashicorp.com/* and vaultkube.io/* annotations and
// merges them with cfg into a Spec. Unknown and unimplemented annotations become warnings;
// invalid values, templates that do not parse and path traversal become errors (all of them,
// joined, each an *AnnotationError).
func ParseAnnotations(ann map[string]string, cfg Config) (*Spec, []string, error) {
	p := parser{ann: ann, cfg: cfg}
	spec := p.parse()
	if len(p.errs) > 0 {
		return nil, p.warnings, errors.Join(p.errs...)
	}
	return spec, p.warnings, nil
}

type parser struct {
	ann map[string]string
	// present has the keyBit of every vault.hashicorp.com/* and vaultkube.io/* key: most
	// keys a parse asks for are absent, and a clear bit answers without a map lookup
	present  uint64
	cfg      Config
	warnings []string
	errs     []error
}

// keyBit sums up an annotation key in one bit of 64: its length and last two bytes tell
// apart most keys of one pod. Keys with different bits differ.
func keyBit[K string | []byte](k K) uint64 {
	n := len(k)
	if n < 2 {
		return 1
	}
	return 1 << ((uint(n)*5 + uint(k[n-1])*3 + uint(k[n-2])) & 63)
}

// get is p.ann[key] for a key with one of the two prefixes.
func (p *parser) get(key string) (string, bool) {
	if p.present&keyBit(key) == 0 {
		return "", false
	}
	v, ok := p.ann[key]
	return v, ok
}

// entry is a vault.hashicorp.com/* or vaultkube.io/* annotation with its table row.
type entry struct {
	key, value string
	row        *Annotation // nil for keys of no row
	name       string      // the secret name of a per-secret key
}

// perSecret returns the value of the annotation prefix + "-" + name, without building the
// key as a string (map lookups of string(bytes) do not allocate).
func (p *parser) perSecret(prefix, name string) (string, bool) {
	var buf [128]byte
	key := append(append(append(buf[:0], prefix...), '-'), name...)
	if p.present&keyBit(key) == 0 {
		return "", false
	}
	v, ok := p.ann[string(key)]
	return v, ok
}

func (p *parser) perSecretValue(prefix, name, def string) string {
	if v, ok := p.perSecret(prefix, name); ok {
		return v
	}
	return def
}

func (p *parser) perSecretBool(prefix, name string, def bool) bool {
	v, ok := p.perSecret(prefix, name)
	return boolOr(v, ok, def)
}

// boolOr is the annotation value v as a boolean, or def when it is absent (!ok) or not a
// boolean (which the table check reports).
func boolOr(v string, ok, def bool) bool {
	if !ok {
		return def
	}
	b, err := parseBool(v)
	if err != nil {
		return def
	}
	return b
}

func (p *parser) fail(key, format string, args ...any) {
	p.errs = append(p.errs, &AnnotationError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

// value returns the annotation value or def.
func (p *parser) value(key, def string) string {
	if v, ok := p.get(key); ok {
		return v
	}
	return def
}

func (p *parser) boolean(key string, def bool) bool {
	v, ok := p.get(key)
	return boolOr(v, ok, def)
}

func (p *parser) optBool(key string) *bool {
	if _, ok := p.get(key); !ok {
		return nil
	}
	b := p.boolean(key, false)
	return &b
}

func (p *parser) optInt64(key string) *int64 {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return nil
	}
	return &n
}

func (p *parser) parse() *Spec {
	var stack [32]string
	keys := stack[:0] // on the stack unless the pod has many annotations
	for k := range p.ann {
		if strings.HasPrefix(k, Prefix) || strings.HasPrefix(k, Ext) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var entryStack [16]entry
	entries := entryStack[:0]
	if len(keys) > len(entryStack) {
		entries = make([]entry, 0, len(keys))
	}
	for _, k := range keys {
		row, name, _ := rows.lookup(k)
		entries = append(entries, entry{key: k, value: p.ann[k], row: row, name: name})
		p.present |= keyBit(k)
	}

	// Pass 1: the table. Unknown keys and unimplemented rows warn; implemented rows validate.
	for _, e := range entries {
		k, v, row := e.key, e.value, e.row
		if row == nil {
			p.warnings = append(p.warnings, fmt.Sprintf("annotation %s is unknown to vaultkube and is ignored", k))
			continue
		}
		if !row.Implemented {
			if v != row.Default {
				p.warnings = append(p.warnings, fmt.Sprintf("annotation %s is not supported by vaultkube yet and is ignored", k))
			}
			continue
		}
		if row.Check != nil {
			if err := row.Check(v); err != nil {
				p.fail(k, "%v", err)
			}
		}
	}

	cfg := p.cfg
	s := &Spec{
		InitFirst:                  p.boolean(AnnInitFirst, false),
		PrePopulate:                p.boolean(AnnPrePopulate, true),
		PrePopulateOnly:            p.boolean(AnnPrePopulateOnly, false),
		InjectToken:                p.boolean(AnnInjectToken, false),
		NativeSidecar:              p.optBool(ExtNativeSidecar),
		Image:                      strings.TrimSpace(p.value(AnnImage, cfg.AgentImage)),
		ExtraSecret:                p.value(AnnExtraSecret, ""),
		TLSSecret:                  p.value(AnnTLSSecret, ""),
		RequestsCPU:                p.value(AnnRequestsCPU, cfg.RequestsCPU),
		RequestsMem:                p.value(AnnRequestsMem, cfg.RequestsMem),
		RequestsEphemeral:          p.value(AnnRequestsEphemeral, cfg.RequestsEphemeral),
		LimitsCPU:                  p.value(AnnLimitsCPU, cfg.LimitsCPU),
		LimitsMem:                  p.value(AnnLimitsMem, cfg.LimitsMem),
		LimitsEphemeral:            p.value(AnnLimitsEphemeral, cfg.LimitsEphemeral),
		RevokeOnShutdown:           p.boolean(AnnRevokeOnShutdown, cfg.RevokeOnShutdown),
		VaultAddress:               p.value(AnnService, cfg.VaultAddress),
		VaultNamespace:             p.value(AnnNamespace, cfg.VaultNamespace),
		ProxyAddress:               p.value(AnnProxyAddress, cfg.ProxyAddress),
		CACert:                     p.value(AnnCACert, ""),
		CAPath:                     p.value(AnnCAKey, ""),
		ClientCert:                 p.value(AnnClientCert, ""),
		ClientKey:                  p.value(AnnClientKey, ""),
		TLSServerName:              p.value(AnnTLSServerName, ""),
		TLSSkipVerify:              p.boolean(AnnTLSSkipVerify, false),
		ClientTimeout:              p.value(AnnClientTimeout, ""),
		GoMaxProcs:                 strings.TrimSpace(p.value(AnnGoMaxProcs, "")),
		LogLevel:                   p.value(AnnLogLevel, cfg.LogLevel),
		LogFormat:                  p.value(AnnLogFormat, cfg.LogFormat),
		Role:                       p.value(AnnRole, ""),
		AuthType:                   p.value(AnnAuthType, cfg.AuthType),
		AuthPath:                   p.value(AnnAuthPath, cfg.AuthPath),
		SecretVolumePath:           cleanPath(p.value(AnnSecretVolumePath, "/vault/secrets")),
		DefaultTemplate:            p.value(AnnDefaultTemplate, cfg.DefaultTemplate),
		StaticSecretRenderInterval: p.value(AnnStaticSecretRenderInterval, cfg.StaticSecretRenderInterval),
		SetSecurityContext:         p.boolean(AnnSetSecurityContext, cfg.SetSecurityContext),
		RunAsUser:                  p.optInt64(AnnRunAsUser),
		RunAsGroup:                 p.optInt64(AnnRunAsGroup),
		RunAsSameUser:              p.boolean(AnnRunAsSameUser, cfg.RunAsSameUser),
		ShareProcessNamespace:      p.optBool(AnnShareProcessNamespace),
		TokenVolumeName:            p.value(AnnServiceAccountTokenVolume, ""),
		CopyVolumeMountsFrom:       p.value(AnnCopyVolumeMounts, ""),
		TokenAudience:              p.value(ExtTokenAudience, cfg.TokenAudience),
		JSONPatch:                  p.value(AnnJSONPatch, ""),
		InitJSONPatch:              p.value(AnnInitJSONPatch, ""),
		Env:                        p.boolean(ExtInjectEnv, false),
	}
	if v, ok := p.get(AnnContainers); ok {
		s.Containers = splitList(v)
	}
	if v, ok := p.get(AnnClientMaxRetries); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			s.ClientMaxRetries = &n
		}
	}
	if s.ClientTimeout != "" {
		if d, err := parseDuration(s.ClientTimeout); err == nil {
			s.ClientTimeout = d.String()
		}
	}
	// the agent reads Go durations; like Vault, 0 means the default interval
	if s.StaticSecretRenderInterval != "" {
		if d, err := parseDuration(s.StaticSecretRenderInterval); err == nil {
			s.StaticSecretRenderInterval = d.String()
			if d == 0 {
				s.StaticSecretRenderInterval = ""
			}
		}
	}
	// vault-k8s: a run-as-* annotation turns the security context on unless it is set explicitly.
	sameUser, _ := p.get(AnnRunAsSameUser)
	if _, set := p.get(AnnSetSecurityContext); !set && (s.RunAsUser != nil || s.RunAsGroup != nil || sameUser != "") {
		s.SetSecurityContext = true
	}

	if img, ok := p.get(AnnImage); ok && isVaultImage(img) {
		p.warnings = append(p.warnings, fmt.Sprintf("annotation %s: %q is a HashiCorp Vault image, which cannot run the vaultkube agent; using %s", AnnImage, img, cfg.AgentImage))
		s.Image = cfg.AgentImage
	}
	if s.VaultAddress == "" {
		p.fail(AnnService, "no Vault address: set this annotation or the injector's --vault-address")
	} else if isPlainHTTP(s.VaultAddress) {
		from := "the injector's --vault-address"
		if _, ok := p.get(AnnService); ok {
			from = "annotation " + AnnService
		}
		p.warnings = append(p.warnings, fmt.Sprintf("%s: Vault address %s is plain http: the agent's service-account token and Vault tokens and secrets travel unencrypted; use https", from, s.VaultAddress))
	}
	if s.TokenAudience == "" && s.TokenVolumeName == "" {
		p.warnings = append(p.warnings, fmt.Sprintf("annotation %s (or --token-audience) is empty: the agent's projected token has the API server's audience, so Vault (and anyone who reads it on the way) can use it against the API server; set an audience such as %q and the same on the Vault role", ExtTokenAudience, DefaultTokenAudience))
	}
	if s.Image == "" {
		p.fail(AnnImage, "no agent image")
	}
	for _, e := range entries {
		if e.row != nil && e.row.Key == AnnAuthConfig {
			if s.AuthConfig == nil {
				s.AuthConfig = map[string]string{}
			}
			// as vault-k8s: auth-config-token-path is the parameter token_path
			s.AuthConfig[strings.ReplaceAll(e.name, "-", "_")] = e.value
		}
	}
	if s.Role == "" {
		s.Role = s.AuthConfig["role"]
	} else if s.AuthConfig != nil && s.AuthConfig["role"] != "" {
		s.AuthConfig["role"] = s.Role // the role annotation wins, as in vault-k8s
	}
	if tp, ok := s.AuthConfig["token_path"]; ok {
		if err := checkAbsPath(tp); err != nil {
			p.fail(AnnAuthConfig+"-token-path", "%v", err)
		}
		s.TokenPath = tp
		delete(s.AuthConfig, "token_path")
	}
	if s.Role == "" {
		p.fail(AnnRole, "no Vault role: set this annotation (or auth-config-role)")
	}
	p.checkRequestLimit(AnnRequestsCPU, s.RequestsCPU, s.LimitsCPU)
	p.checkRequestLimit(AnnRequestsMem, s.RequestsMem, s.LimitsMem)
	p.checkRequestLimit(AnnRequestsEphemeral, s.RequestsEphemeral, s.LimitsEphemeral)

	s.Secrets = p.secrets(s, entries)
	if s.InjectToken && !s.Env {
		for _, sec := range s.Secrets {
			if sec.Destination() == path.Join(s.SecretVolumePath, "token") {
				p.fail(AnnInjectToken, "secret %q renders to %s, where the token goes", sec.RawName, sec.Destination())
			}
		}
	}
	p.orphans(s, entries)
	return s
}

func (p *parser) checkRequestLimit(key, req, limit string) {
	if req == "" || limit == "" {
		return
	}
	if c, ok := compareQuantities(req, limit); ok && c > 0 {
		p.fail(key, "request %s is greater than the limit %s", req, limit)
	}
}

// declares reports whether a per-secret row declares a secret on its own (agent-inject-secret,
// -template and -template-file).
func declares(row *Annotation) bool {
	return row.Key == AnnSecret || row.Key == AnnTemplate || row.Key == AnnTemplateFile
}

func (p *parser) secrets(s *Spec, entries []entry) []Secret {
	preserveAll := p.boolean(AnnPreserveSecretCase, false)
	// the declared names first, in key order, so that the secrets are allocated at once
	var raws []string
	seen := map[string]bool{}
	for _, e := range entries {
		raw := e.name
		if e.row == nil || !declares(e.row) || raw == "" || seen[raw] || strings.TrimSpace(e.value) == "" {
			continue
		}
		seen[raw] = true
		raws = append(raws, raw)
	}
	if len(raws) == 0 {
		return nil
	}
	out := make([]Secret, 0, len(raws))
	names := make(map[string]string, len(raws)) // file name -> raw name, to catch collisions
	for _, raw := range raws {
		name := raw
		if !p.perSecretBool(AnnPreserveSecretCase, raw, preserveAll) {
			name = strings.ToLower(raw)
		}
		secretPath, _ := p.perSecret(AnnSecret, raw)
		tmpl, _ := p.perSecret(AnnTemplate, raw)
		perms, _ := p.perSecret(AnnPerms, raw)
		file, explicitFile := p.perSecret(AnnFile, raw)
		if !explicitFile {
			file = name
		}
		sec := Secret{
			Name:              name,
			RawName:           raw,
			Path:              secretPath,
			Template:          tmpl,
			LeftDelim:         p.perSecretValue(AnnLeftDelim, raw, "{{"),
			RightDelim:        p.perSecretValue(AnnRightDelim, raw, "}}"),
			File:              file,
			MountPath:         cleanPath(p.perSecretValue(AnnSecretVolumePath, raw, s.SecretVolumePath)),
			Perms:             perms,
			ErrorOnMissingKey: p.perSecretBool(AnnErrorOnMissingKey, raw, false),
		}
		if sec.Template == "" {
			sec.TemplateFile, _ = p.perSecret(AnnTemplateFile, raw)
		}
		if cmd, ok := p.perSecret(AnnCommand, raw); ok {
			if argv, err := splitCommand(cmd); err == nil {
				sec.Command = argv
				if base := path.Base(argv[0]); base == "sh" || base == "bash" || base == "ash" {
					p.warnings = append(p.warnings, fmt.Sprintf("annotation %s runs %s: the vaultkube agent image has no shell, the command will fail", AnnCommand+"-"+raw, argv[0]))
				} else if i := strings.IndexAny(cmd, "$`|;&<>"); i >= 0 {
					p.warnings = append(p.warnings, fmt.Sprintf("annotation %s is run without a shell: %q reaches %s as an argument, not as shell syntax", AnnCommand+"-"+raw, cmd[i:i+1], argv[0]))
				}
			}
		}
		if !explicitFile {
			if err := checkRelFile(sec.File); err != nil {
				p.fail(AnnSecret+"-"+raw, "secret name %q cannot be a file name: %v", raw, err)
			}
		}
		if sec.Template != "" {
			if err := ValidateTemplate(sec.Template, sec.LeftDelim, sec.RightDelim); err != nil {
				p.fail(AnnTemplate+"-"+raw, "%v", err)
			}
		}
		if s.Env {
			if v, ok := p.perSecret(ExtEnvPrefix, raw); ok {
				sec.EnvPrefix = v
			} else {
				sec.EnvPrefix = envPrefix(name)
			}
		}
		dest := sec.Destination()
		if other, dup := names[dest]; dup {
			p.fail(AnnFile+"-"+raw, "secrets %q and %q both render to %s", other, raw, dest)
		}
		names[dest] = raw
		out = append(out, sec)
	}
	return out
}

// orphans warns about per-secret annotations whose secret is not declared.
func (p *parser) orphans(s *Spec, entries []entry) {
	declared := make(map[string]bool, len(s.Secrets))
	for _, sec := range s.Secrets {
		declared[sec.RawName] = true
	}
	for _, e := range entries {
		row, raw, k := e.row, e.name, e.key
		if row == nil {
			continue
		}
		if row.Key == ExtEnvPrefix && !s.Env && declared[raw] {
			p.warnings = append(p.warnings, fmt.Sprintf("annotation %s has no effect without %s: \"true\"", k, ExtInjectEnv))
			continue
		}
		if !row.PerSecret || !row.Implemented || raw == "" || declared[raw] || declares(row) {
			continue
		}
		switch row.Key {
		case AnnAuthConfig:
			continue
		}
		if row.Key == ExtEnvPrefix && !s.Env {
			p.warnings = append(p.warnings, fmt.Sprintf("annotation %s has no effect without %s: \"true\"", k, ExtInjectEnv))
			continue
		}
		p.warnings = append(p.warnings, fmt.Sprintf("annotation %s refers to secret %q, which no %s-%s annotation declares", k, raw, AnnSecret, raw))
	}
}

// isVaultImage reports whether an image reference names HashiCorp's Vault image (as pods
// written for vault-k8s often pin in agent-image), for example hashicorp/vault:1.21.1,
// vault:1.4.2 or registry.example.com/mirror/vault-enterprise:1.19-ent.
func isVaultImage(ref string) bool {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	name := ref
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		name = ref[i+1:]
	}
	if i := strings.Index(name, ":"); i >= 0 {
		name = name[:i]
	}
	return name == "vault" || name == "vault-enterprise"
}

// cleanPath normalises a checked absolute path ("/vault//secrets/./" is "/vault/secrets"),
// so that two spellings of one directory are one mount.
func cleanPath(p string) string {
	if p == "" {
		return p
	}
	return path.Clean(p)
}

// isPlainHTTP reports whether a Vault address uses http:// (any case).
func isPlainHTTP(addr string) bool {
	addr = strings.TrimSpace(addr)
	return len(addr) >= 7 && strings.EqualFold(addr[:7], "http://")
}

// envPrefix turns a secret name into an environment variable prefix: "db-creds" -> "DB_CREDS_".
func envPrefix(name string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || (unicode.IsDigit(r) && i > 0)):
			b.WriteRune(unicode.ToUpper(r))
		case unicode.IsDigit(r):
			b.WriteString("_")
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	return b.String() + "_"
}
