package injector

import (
	"fmt"
	"sort"
	"strings"
)

// Prefix is the annotation prefix of vault-k8s; Ext is the prefix of vaultkube's own extensions.
const (
	Prefix = "vault.hashicorp.com/"
	Ext    = "vaultkube.io/"
)

// Annotation is one row of the annotation table: the single source of truth for parsing,
// validation, warnings, docs and tests.
type Annotation struct {
	// Key is the full annotation key. For a per-secret row it is the prefix without the
	// trailing dash: the annotation is Key + "-" + <secret name>.
	Key string
	// Default is the value used when the annotation is absent ("" means none).
	Default string
	// Flag names the injector flag that overrides Default cluster-wide, if any.
	Flag string
	// Doc says what the annotation does, in one or two sentences.
	Doc string
	// PerSecret rows take a "-<name>" suffix; Bare ones also work without it.
	PerSecret bool
	Bare      bool
	// Implemented is false for annotations vaultkube parses but does not act on yet: their
	// presence (with a non-default value) yields an admission warning.
	Implemented bool
	// Check validates a value; nil accepts anything.
	Check func(string) error
}

// Annotation keys, named once here and used everywhere else.
const (
	AnnInject                     = Prefix + "agent-inject"
	AnnStatus                     = Prefix + "agent-inject-status"
	AnnSecret                     = Prefix + "agent-inject-secret"
	AnnFile                       = Prefix + "agent-inject-file"
	AnnPerms                      = Prefix + "agent-inject-perms"
	AnnTemplate                   = Prefix + "agent-inject-template"
	AnnTemplateFile               = Prefix + "agent-inject-template-file"
	AnnLeftDelim                  = Prefix + "agent-template-left-delim"
	AnnRightDelim                 = Prefix + "agent-template-right-delim"
	AnnCommand                    = Prefix + "agent-inject-command"
	AnnErrorOnMissingKey          = Prefix + "error-on-missing-key"
	AnnAuthConfig                 = Prefix + "auth-config"
	AnnTelemetry                  = Prefix + "agent-telemetry"
	AnnSecretVolumePath           = Prefix + "secret-volume-path"
	AnnPreserveSecretCase         = Prefix + "preserve-secret-case"
	AnnContainers                 = Prefix + "agent-inject-containers"
	AnnDefaultTemplate            = Prefix + "agent-inject-default-template"
	AnnInjectToken                = Prefix + "agent-inject-token"
	AnnImage                      = Prefix + "agent-image"
	AnnRequestNamespace           = Prefix + "agent-request-namespace"
	AnnInitFirst                  = Prefix + "agent-init-first"
	AnnPrePopulate                = Prefix + "agent-pre-populate"
	AnnPrePopulateOnly            = Prefix + "agent-pre-populate-only"
	AnnConfigMap                  = Prefix + "agent-configmap"
	AnnExtraSecret                = Prefix + "agent-extra-secret"
	AnnLimitsCPU                  = Prefix + "agent-limits-cpu"
	AnnLimitsMem                  = Prefix + "agent-limits-mem"
	AnnLimitsEphemeral            = Prefix + "agent-limits-ephemeral"
	AnnRequestsCPU                = Prefix + "agent-requests-cpu"
	AnnRequestsMem                = Prefix + "agent-requests-mem"
	AnnRequestsEphemeral          = Prefix + "agent-requests-ephemeral"
	AnnRevokeOnShutdown           = Prefix + "agent-revoke-on-shutdown"
	AnnRevokeGrace                = Prefix + "agent-revoke-grace"
	AnnNamespace                  = Prefix + "namespace"
	AnnRunAsUser                  = Prefix + "agent-run-as-user"
	AnnRunAsGroup                 = Prefix + "agent-run-as-group"
	AnnRunAsSameUser              = Prefix + "agent-run-as-same-user"
	AnnShareProcessNamespace      = Prefix + "agent-share-process-namespace"
	AnnSetSecurityContext         = Prefix + "agent-set-security-context"
	AnnServiceAccountTokenVolume  = Prefix + "agent-service-account-token-volume-name"
	AnnService                    = Prefix + "service"
	AnnProxyAddress               = Prefix + "proxy-address"
	AnnTLSSkipVerify              = Prefix + "tls-skip-verify"
	AnnTLSSecret                  = Prefix + "tls-secret"
	AnnTLSServerName              = Prefix + "tls-server-name"
	AnnCACert                     = Prefix + "ca-cert"
	AnnCAKey                      = Prefix + "ca-key"
	AnnClientCert                 = Prefix + "client-cert"
	AnnClientKey                  = Prefix + "client-key"
	AnnClientMaxRetries           = Prefix + "client-max-retries"
	AnnClientTimeout              = Prefix + "client-timeout"
	AnnGoMaxProcs                 = Prefix + "go-max-procs"
	AnnLogLevel                   = Prefix + "log-level"
	AnnLogFormat                  = Prefix + "log-format"
	AnnRole                       = Prefix + "role"
	AnnAuthType                   = Prefix + "auth-type"
	AnnAuthPath                   = Prefix + "auth-path"
	AnnCacheEnable                = Prefix + "agent-cache-enable"
	AnnCacheUseAutoAuthToken      = Prefix + "agent-cache-use-auto-auth-token"
	AnnCacheListenerPort          = Prefix + "agent-cache-listener-port"
	AnnCacheExitOnErr             = Prefix + "agent-cache-exit-on-err"
	AnnCopyVolumeMounts           = Prefix + "agent-copy-volume-mounts"
	AnnTemplateExitOnRetryFailure = Prefix + "template-config-exit-on-retry-failure"
	AnnStaticSecretRenderInterval = Prefix + "template-static-secret-render-interval"
	AnnMaxConnectionsPerHost      = Prefix + "template-max-connections-per-host"
	AnnEnableQuit                 = Prefix + "agent-enable-quit"
	AnnAuthMinBackoff             = Prefix + "auth-min-backoff"
	AnnAuthMaxBackoff             = Prefix + "auth-max-backoff"
	AnnDisableIdleConnections     = Prefix + "agent-disable-idle-connections"
	AnnDisableKeepAlives          = Prefix + "agent-disable-keep-alives"
	AnnJSONPatch                  = Prefix + "agent-json-patch"
	AnnInitJSONPatch              = Prefix + "agent-init-json-patch"
	AnnAutoAuthExitOnErr          = Prefix + "agent-auto-auth-exit-on-err"
	AnnMetricsListenerPort        = Prefix + "agent-metrics-listener-port"

	// vaultkube extensions.
	ExtInjectEnv     = Ext + "agent-inject-env"
	ExtEnvPrefix     = Ext + "env-prefix"
	ExtNativeSidecar = Ext + "agent-native-sidecar"
	ExtTokenAudience = Ext + "agent-token-audience"
)

// Annotations is the table of every vault.hashicorp.com/* annotation vault-k8s v1.7 knows.
var Annotations = []Annotation{
	{Key: AnnInject, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Enables injection for the pod when true."},
	{Key: AnnStatus, Implemented: true,
		Doc: "Set to `injected` by the injector after a mutation; with that value a re-invocation is a no-op. Any other value injects again."},
	{Key: AnnSecret, PerSecret: true, Implemented: true,
		Doc: "Vault path of the secret `<name>`; the agent renders it to `<secret-volume-path>/<name>`. Empty values are skipped."},
	{Key: AnnFile, PerSecret: true, Implemented: true, Check: checkRelFile,
		Doc: "File name (relative, may contain sub-directories, no `..`) for secret `<name>` inside the secrets volume."},
	{Key: AnnPerms, PerSecret: true, Implemented: true, Check: checkPerms,
		Doc: "Octal file mode of the rendered file of secret `<name>`, for example `0400`: permission bits only, at most `0777` (setuid, setgid and sticky bits are refused)."},
	{Key: AnnTemplate, PerSecret: true, Implemented: true,
		Doc: "consul-template text for secret `<name>`; parsed at admission, a syntax error denies the pod."},
	{Key: AnnTemplateFile, PerSecret: true, Implemented: true, Check: checkAbsPath,
		Doc: "Absolute path, inside the agent container, of a template file for secret `<name>` (used when no inline template is given)."},
	{Key: AnnLeftDelim, PerSecret: true, Default: "{{", Implemented: true, Check: checkNonEmpty,
		Doc: "Left template delimiter for secret `<name>`."},
	{Key: AnnRightDelim, PerSecret: true, Default: "}}", Implemented: true, Check: checkNonEmpty,
		Doc: "Right template delimiter for secret `<name>`."},
	{Key: AnnCommand, PerSecret: true, Implemented: true, Check: checkCommand,
		Doc: "Command run by the agent after each render of secret `<name>`. Split into argv like a shell would, but run without a shell: the vaultkube agent image holds only the agent, so the program must be on a volume the agent mounts (admission warns otherwise)."},
	{Key: AnnErrorOnMissingKey, PerSecret: true, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Fail rendering secret `<name>` when its template indexes a missing key."},
	{Key: AnnAuthConfig, PerSecret: true, Implemented: true,
		Doc: "Extra login parameter `<name>` passed to the auth method (for example `auth-config-role`)."},
	{Key: AnnTelemetry, PerSecret: true,
		Doc: "Vault agent telemetry stanza parameter `<name>`."},
	{Key: AnnSecretVolumePath, PerSecret: true, Bare: true, Default: "/vault/secrets", Implemented: true, Check: checkMountPath,
		Doc: "Mount path of the secrets volume in the application containers; with `-<name>` only for that secret's file. Absolute, without `..`, not `/`; cleaned (`/a//b/` is `/a/b`)."},
	{Key: AnnPreserveSecretCase, PerSecret: true, Bare: true, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Keep the case of secret names in file names (they are lower-cased otherwise); bare for all secrets, `-<name>` for one."},
	{Key: AnnContainers, Implemented: true, Check: checkNameList,
		Doc: "Comma-separated names of the containers that get the secrets volume (or, in env mode, the agent wrapper). Default: all containers."},
	{Key: AnnDefaultTemplate, Default: "map", Flag: "--default-template", Implemented: true, Check: checkOneOf("map", "json"),
		Doc: "Format of secrets that have no template: `map` (Go map syntax, as vault-k8s) or `json`."},
	{Key: AnnInjectToken, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Also write the agent's Vault token to `<secret-volume-path>/token`."},
	{Key: AnnImage, Default: DefaultAgentImage, Flag: "--agent-image", Implemented: true, Check: checkNonEmpty,
		Doc: "Image of the injected agent containers; it must hold the agent binary (`/vaultkube-agent`, flag `--agent-binary`). A HashiCorp Vault image (as pinned for vault-k8s) is replaced by the default, with a warning."},
	{Key: AnnRequestNamespace, Implemented: true,
		Doc: "Informational: the namespace of the admission request (vault-k8s writes it; vaultkube reads and ignores it)."},
	{Key: AnnInitFirst, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Run the agent init container (or native sidecar) before the pod's other init containers, which then see the secrets too."},
	{Key: AnnPrePopulate, Default: "true", Implemented: true, Check: checkBool,
		Doc: "Render secrets before the application starts (init container, or the startup probe of a native sidecar)."},
	{Key: AnnPrePopulateOnly, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Inject only the init container: secrets are rendered once, no sidecar keeps them fresh."},
	{Key: AnnConfigMap,
		Doc: "Name of a ConfigMap holding a complete Vault agent configuration (HCL)."},
	{Key: AnnExtraSecret, Implemented: true, Check: checkDNSSubdomain,
		Doc: "Name of a Kubernetes Secret mounted read-only at `/vault/custom` in the agent containers."},
	{Key: AnnLimitsCPU, Default: "500m", Flag: "--agent-limits-cpu", Implemented: true, Check: checkQuantity,
		Doc: "CPU limit of the agent containers; empty for none."},
	{Key: AnnLimitsMem, Default: "128Mi", Flag: "--agent-limits-mem", Implemented: true, Check: checkQuantity,
		Doc: "Memory limit of the agent containers; empty for none."},
	{Key: AnnLimitsEphemeral, Flag: "--agent-limits-ephemeral", Implemented: true, Check: checkQuantity,
		Doc: "Ephemeral storage limit of the agent containers."},
	{Key: AnnRequestsCPU, Default: "250m", Flag: "--agent-requests-cpu", Implemented: true, Check: checkQuantity,
		Doc: "CPU request of the agent containers; empty for none."},
	{Key: AnnRequestsMem, Default: "64Mi", Flag: "--agent-requests-mem", Implemented: true, Check: checkQuantity,
		Doc: "Memory request of the agent containers; empty for none."},
	{Key: AnnRequestsEphemeral, Flag: "--agent-requests-ephemeral", Implemented: true, Check: checkQuantity,
		Doc: "Ephemeral storage request of the agent containers."},
	{Key: AnnRevokeOnShutdown, Default: "false", Flag: "--revoke-on-shutdown", Implemented: true, Check: checkBool,
		Doc: "Every agent revokes its Vault token when it is done with it: the sidecar when it stops, the agent an app runs under (env mode) when the app ends, an init agent when it exits (the sidecar logs in on its own; not when `agent-inject-token` hands the token to the app). " +
			"Off by default as in vault-k8s: revoking a token also revokes the leases of the dynamic secrets read with it (an init agent's database credentials, for example)."},
	{Key: AnnRevokeGrace, Default: "5",
		Doc: "Seconds the sidecar waits for token revocation at shutdown."},
	{Key: AnnNamespace, Flag: "--vault-namespace", Implemented: true,
		Doc: "Vault Enterprise namespace of the secrets."},
	{Key: AnnRunAsUser, Default: "100", Flag: "--run-as-user", Implemented: true, Check: checkID,
		Doc: "User ID of the agent containers. Without it, a pod-level `runAsUser` is inherited, else the default applies."},
	{Key: AnnRunAsGroup, Default: "1000", Flag: "--run-as-group", Implemented: true, Check: checkID,
		Doc: "Group ID of the agent containers. Without it, a pod-level `runAsGroup` is inherited, else the default applies."},
	{Key: AnnRunAsSameUser, Default: "false", Flag: "--run-as-same-user", Implemented: true, Check: checkBool,
		Doc: "Run the agent with the user ID of the first application container (or the pod's); it must be set and not root."},
	{Key: AnnShareProcessNamespace, Implemented: true, Check: checkBool,
		Doc: "Sets `shareProcessNamespace` on the pod."},
	{Key: AnnSetSecurityContext, Default: "true", Flag: "--set-security-context", Implemented: true, Check: checkBool,
		Doc: "Give the agent containers a restrictive securityContext (non-root, no privilege escalation, all capabilities dropped, read-only root)."},
	{Key: AnnServiceAccountTokenVolume, Implemented: true, Check: checkDNSLabel,
		Doc: "Name of an existing pod volume holding a service-account `token` to log in with, instead of the agent's own projected token."},
	{Key: AnnService, Flag: "--vault-address", Implemented: true, Check: checkURL,
		Doc: "Address of Vault, for example `https://vault.vault:8200`."},
	{Key: AnnProxyAddress, Flag: "--proxy-address", Implemented: true, Check: checkURL,
		Doc: "HTTP(S) proxy for the agent's requests to Vault."},
	{Key: AnnTLSSkipVerify, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Skip verification of Vault's certificate (tests only)."},
	{Key: AnnTLSSecret, Implemented: true, Check: checkDNSSubdomain,
		Doc: "Name of a Kubernetes Secret mounted read-only at `/vault/tls` in the agent containers (CA and client certificates)."},
	{Key: AnnTLSServerName, Implemented: true,
		Doc: "Server name to verify in Vault's certificate."},
	{Key: AnnCACert, Implemented: true, Check: checkAbsPath,
		Doc: "Path of the CA certificate that signs Vault's certificate, for example `/vault/tls/ca.crt`."},
	{Key: AnnCAKey, Implemented: true, Check: checkAbsPath,
		Doc: "Path of a directory of CA certificates (vault-k8s passes it as the agent's `ca_path`)."},
	{Key: AnnClientCert, Implemented: true, Check: checkAbsPath,
		Doc: "Path of the client certificate for TLS to Vault."},
	{Key: AnnClientKey, Implemented: true, Check: checkAbsPath,
		Doc: "Path of the client key for TLS to Vault."},
	{Key: AnnClientMaxRetries, Default: "2", Implemented: true, Check: checkNonNegInt,
		Doc: "Retries on 5xx answers from Vault."},
	{Key: AnnClientTimeout, Default: "60s", Implemented: true, Check: checkDuration,
		Doc: "Timeout of a request to Vault (Go duration or seconds)."},
	{Key: AnnGoMaxProcs, Implemented: true, Check: checkPositiveInt,
		Doc: "GOMAXPROCS of the agent."},
	{Key: AnnLogLevel, Default: "info", Flag: "--agent-log-level", Implemented: true, Check: checkOneOf("trace", "debug", "info", "warn", "warning", "error"),
		Doc: "Log level of the agent."},
	{Key: AnnLogFormat, Default: "standard", Flag: "--agent-log-format", Implemented: true, Check: checkOneOf("standard", "json"),
		Doc: "Log format of the agent: `standard` or `json`."},
	{Key: AnnRole, Implemented: true,
		Doc: "Vault role to log in with (required unless `auth-config-role` is set)."},
	{Key: AnnAuthType, Default: "kubernetes", Flag: "--auth-type", Implemented: true, Check: checkOneOf("kubernetes", "jwt"),
		Doc: "Auth method: `kubernetes` or `jwt` (the vaultkube agent supports these two)."},
	{Key: AnnAuthPath, Default: "auth/kubernetes", Flag: "--auth-path", Implemented: true, Check: checkNonEmpty,
		Doc: "Mount path of the auth method."},
	{Key: AnnCacheEnable, Default: "false",
		Doc: "Enable the agent's caching proxy."},
	{Key: AnnCacheUseAutoAuthToken, Default: "true",
		Doc: "Whether the caching proxy uses the auto-auth token (`true`, `false` or `force`)."},
	{Key: AnnCacheListenerPort, Default: "8200",
		Doc: "Port of the caching proxy listener."},
	{Key: AnnCacheExitOnErr, Default: "false",
		Doc: "Exit when restoring the persistent cache fails."},
	{Key: AnnCopyVolumeMounts, Implemented: true, Check: checkDNSLabel,
		Doc: "Name of a container whose volume mounts (except service-account token mounts) are copied onto the agent containers."},
	{Key: AnnTemplateExitOnRetryFailure, Default: "true",
		Doc: "Exit the agent when a template still fails after all retries."},
	{Key: AnnStaticSecretRenderInterval, Flag: "--template-static-secret-render-interval", Implemented: true, Check: checkDuration,
		Doc: "How often static (non-leased) secrets such as KV v2 are re-read; the agent's default is 5m."},
	{Key: AnnMaxConnectionsPerHost,
		Doc: "Connection limit of the templating engine per Vault host."},
	{Key: AnnEnableQuit, Default: "false",
		Doc: "Enable the agent's `/agent/v1/quit` endpoint."},
	{Key: AnnAuthMinBackoff, Default: "1s",
		Doc: "Minimum back-off after a failed login."},
	{Key: AnnAuthMaxBackoff, Default: "5m",
		Doc: "Maximum back-off after a failed login."},
	{Key: AnnDisableIdleConnections,
		Doc: "Comma-separated features (`auto-auth`, `caching`, `templating`) that should not keep idle connections."},
	{Key: AnnDisableKeepAlives,
		Doc: "Comma-separated features (`auto-auth`, `caching`, `templating`) that should not use keep-alives."},
	{Key: AnnJSONPatch, Implemented: true, Check: checkJSONPatch,
		Doc: "RFC 6902 JSON patch applied to the agent sidecar container (native or classic) after it is built."},
	{Key: AnnInitJSONPatch, Implemented: true, Check: checkJSONPatch,
		Doc: "RFC 6902 JSON patch applied to the agent init container after it is built."},
	{Key: AnnAutoAuthExitOnErr, Default: "false",
		Doc: "Exit the agent when auto-auth fails instead of retrying forever."},
	{Key: AnnMetricsListenerPort,
		Doc: "Port of the agent's metrics listener."},
}

// Extensions is the table of vaultkube's own annotations.
var Extensions = []Annotation{
	{Key: ExtInjectEnv, Default: "false", Implemented: true, Check: checkBool,
		Doc: "Env mode: instead of files, the secrets become environment variables of the application process. " +
			"The agent binary is copied into the pod by an init container and wraps each selected container's `command` " +
			"(`vaultkube agent exec -- <command> <args>`), so the container must declare an explicit `command`."},
	{Key: ExtEnvPrefix, PerSecret: true, Implemented: true, Check: checkEnvPrefix,
		Doc: "Env mode: prefix of the variables made from secret `<name>` (each key K becomes PREFIX+K). Default: the upper-cased name and `_`. " +
			"An empty prefix and prefixes such as `LD_` are refused; a key that would make a variable that takes over the process (`LD_*`, `PATH`, `HOME`, `BASH_ENV`, `NODE_OPTIONS`, `PYTHONPATH`, `JAVA_TOOL_OPTIONS`, ...) stops the agent before the app starts."},
	{Key: ExtNativeSidecar, Implemented: true, Check: checkBool,
		Doc: "`false` forces a classic sidecar; `true` forces a native sidecar (init container with `restartPolicy: Always`) even on an API server older than 1.29. " +
			"Without it, `--native-sidecar auto` uses a native sidecar unless the API server is known to be older than 1.29 (an unknown version counts as >= 1.29), so a Job's pod completes."},
	{Key: ExtTokenAudience, Default: DefaultTokenAudience, Flag: "--token-audience", Implemented: true,
		Doc: "Audience of the agent's projected service-account token. Give the Vault role the same audience (`vault write auth/kubernetes/role/<role> audience=vault ...`; `bound_audiences` for JWT auth): " +
			"Vault then refuses tokens minted for other audiences, and the token the agent sends is not a valid API-server token. " +
			"Empty means the API server's default audience (the token then also works against the API server; admission warns)."},
}

// rowIndex finds the row of an annotation key and the per-secret name, if any.
type rowIndex struct {
	exact    map[string]*Annotation
	prefixes []*Annotation // per-secret rows, longest key first
}

func newRowIndex(tables ...[]Annotation) *rowIndex {
	idx := &rowIndex{exact: map[string]*Annotation{}}
	for _, table := range tables {
		for i := range table {
			row := &table[i]
			if !row.PerSecret || row.Bare {
				idx.exact[row.Key] = row
			}
			if row.PerSecret {
				idx.prefixes = append(idx.prefixes, row)
			}
		}
	}
	sort.SliceStable(idx.prefixes, func(i, j int) bool { return len(idx.prefixes[i].Key) > len(idx.prefixes[j].Key) })
	return idx
}

var rows = newRowIndex(Annotations, Extensions)

// lookup returns the row for key and, for a per-secret key, the raw secret name.
func (idx *rowIndex) lookup(key string) (row *Annotation, name string, ok bool) {
	if row, ok := idx.exact[key]; ok {
		return row, "", true
	}
	for _, row := range idx.prefixes {
		// key is row.Key + "-" + a name (no concatenation: this runs for every annotation)
		if n := len(row.Key); len(key) > n+1 && key[n] == '-' && key[:n] == row.Key {
			return row, key[n+1:], true
		}
	}
	return nil, "", false
}

// Lookup returns the table row that governs an annotation key and the secret name for
// per-secret keys. ok is false for keys of no row.
func Lookup(key string) (row Annotation, name string, ok bool) {
	r, name, ok := rows.lookup(key)
	if !ok {
		return Annotation{}, "", false
	}
	return *r, name, true
}

// Markdown renders the annotation tables as a Markdown document.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Annotations\n\n")
	b.WriteString("Generated from `injector/annotations.go` (`go test ./injector -run TestAnnotationDocs -update`).\n\n")
	fmt.Fprintf(&b, "vaultkube understands the %d `%s*` annotations of vault-k8s v1.7 with the same meaning and defaults. ", len(Annotations), Prefix)
	b.WriteString("Annotations marked *warned* are accepted but not acted on yet: the admission response carries a warning naming them. ")
	b.WriteString("An invalid value or a template that does not parse denies the pod with a message naming the annotation. ")
	b.WriteString("`<name>` is the secret name: everything after the prefix, dashes included.\n\n")
	writeTable := func(table []Annotation) {
		b.WriteString("| Annotation | Default | Status | Meaning |\n|---|---|---|---|\n")
		for _, row := range table {
			key := "`" + row.Key + "`"
			if row.PerSecret {
				key = "`" + row.Key + "-<name>`"
				if row.Bare {
					key = "`" + row.Key + "`, " + key
				}
			}
			def := ""
			if row.Default != "" {
				def = "`" + row.Default + "`"
			}
			if row.Flag != "" {
				if def != "" {
					def += " "
				}
				def += "(flag `" + row.Flag + "`)"
			}
			status := "implemented"
			if !row.Implemented {
				status = "*warned*"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", key, def, status, strings.ReplaceAll(row.Doc, "|", "\\|"))
		}
	}
	writeTable(Annotations)
	fmt.Fprintf(&b, "\n## vaultkube extensions (`%s`)\n\n", Ext)
	writeTable(Extensions)
	return b.String()
}
