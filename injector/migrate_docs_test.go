package injector

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The migration guide (docs/migrate-from-vault-k8s.md) is written by hand except for the part
// between these markers, which TestMigrationDocs generates from the annotation table and from
// what Mutate answers, so that the lists and the quoted warnings cannot drift from the code.
const (
	migrateDoc   = "migrate-from-vault-k8s.md"
	migrateBegin = "<!-- BEGIN GENERATED: go test ./injector -run TestMigrationDocs -update (injector/migrate_docs_test.go) -->"
	migrateEnd   = "<!-- END GENERATED -->"
)

// migrationDifferences are the implemented vault.hashicorp.com/* annotations that vaultkube
// reads with vault-k8s's meaning but where the outcome differs, and how. Each claim is checked
// by TestMigrationFacts.
var migrationDifferences = map[string]string{
	AnnImage: "The agent is vaultkube's, not `vault agent`: a HashiCorp Vault image (`hashicorp/vault:1.21.1`, `vault-enterprise`, a mirror of either) " +
		"is replaced by the injector's `--agent-image`, with a warning. Another image must hold the agent binary (`--agent-binary`).",
	AnnCommand: "Run without a shell (split into argv like a shell would), in the agent's image, which holds only the agent: " +
		"the program must come from a volume the agent mounts (see `agent-copy-volume-mounts`). `sh -c ...` and shell syntax (`|`, `;`, `&&`, `$`) warn.",
	AnnAuthType: "Only `kubernetes` and `jwt`. Any other method (`approle`, `aws`, `gcp`, `azure`, `cert`, ...) is refused at admission.",
	AnnJSONPatch: "The patch applies to vaultkube's agent container: its command is `/vaultkube-agent agent` (no shell, no `VAULT_CONFIG`; its configuration is JSON in `VAULTKUBE_AGENT_CONFIG`). " +
		"Patches of resources, security context or mounts carry over; patches of vault-k8s's command, args or env do not mean the same.",
	AnnInitJSONPatch: "As `agent-json-patch`, for the init container `vault-agent-init` (in env mode `vaultkube-install`). " +
		"A native sidecar (the default) has no `vault-agent-init`: the patch is then not applied, and the admission answers with a warning that says so.",
	AnnTemplate: "Parsed at admission: a syntax error refuses the pod with the annotation named (vault-k8s admits it and the agent fails in the pod).",
	AnnRevokeOnShutdown: "Also revokes in init-only agents and in env mode, when the agent is done with its token. " +
		"The sidecar revokes when it stops (no `preStop` hook and no `agent-revoke-grace` wait).",
}

// migrationExample is a pod change whose admission answer the guide quotes.
type migrationExample struct {
	what string
	ann  []string // key, value pairs added to basic()
	cfg  func(*Config)
}

var migrationExamples = []migrationExample{
	{what: "an annotation vaultkube does not act on yet, with a value other than its default", ann: []string{AnnCacheEnable, "true"}},
	{what: "a `vault.hashicorp.com/` key that no version of vault-k8s knows (a typo)", ann: []string{Prefix + "agent-inject-secrets-db", "secret/data/db"}},
	{what: "a HashiCorp Vault image in `agent-image`", ann: []string{AnnImage, "hashicorp/vault:1.21.1"}},
	{what: "a plain `http://` Vault address", ann: []string{AnnService, "http://vault.vault.svc:8200"}},
	{what: "an empty token audience (`--token-audience=\"\"`, the chart's `injector.agent.tokenAudience: \"\"`)", cfg: func(c *Config) { c.TokenAudience = "" }},
	{what: "a shell in `agent-inject-command-<name>`", ann: []string{AnnCommand + "-db", "sh -c 'kill -HUP 1'"}},
	{what: "an auth method the agent does not have", ann: []string{AnnAuthType, "approle"}},
	{what: "a template that does not parse", ann: []string{AnnTemplate + "-db", `{{ with secret "secret/data/db" }}{{ .Data.data.password }}`}},
}

// answer is what the API server shows for an example: the warnings and, for a refused pod,
// the denial.
func (ex migrationExample) answer(t testing.TB) (warnings []string, denial string) {
	t.Helper()
	cfg := testConfig()
	if ex.cfg != nil {
		ex.cfg(&cfg)
	}
	_, warnings, err := Mutate(loadPod(t, "web", basic(ex.ann...)), cfg)
	if err != nil {
		denial = err.Error()
	}
	return warnings, denial
}

func annotationName(row Annotation) string {
	if row.PerSecret {
		if row.Bare {
			return "`" + row.Key + "[-<name>]`"
		}
		return "`" + row.Key + "-<name>`"
	}
	return "`" + row.Key + "`"
}

// migrationMarkdown renders the generated part of the migration guide.
func migrationMarkdown(t testing.TB) string {
	t.Helper()
	var same, differ, warned []Annotation
	for _, row := range Annotations {
		switch {
		case !row.Implemented:
			warned = append(warned, row)
		case migrationDifferences[row.Key] != "":
			differ = append(differ, row)
		default:
			same = append(same, row)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Of the %d `%s*` annotations of vault-k8s v1.7, %d work unchanged, %d work with a difference and %d are accepted with a warning but not acted on. ",
		len(Annotations), Prefix, len(same), len(differ), len(warned))
	b.WriteString("None is refused for its name alone; values are checked as [docs/annotations.md](annotations.md) says, and an invalid value refuses the pod with the annotation named.\n\n")

	fmt.Fprintf(&b, "### Work unchanged (%d)\n\n", len(same))
	b.WriteString("Same meaning and default; where a flag is named, it sets the default for the whole cluster as vault-k8s's flag of the same purpose did.\n\n")
	for _, row := range same {
		line := "- " + annotationName(row)
		if row.Default != "" {
			line += " (default `" + row.Default + "`"
			if row.Flag != "" {
				line += ", flag `" + row.Flag + "`"
			}
			line += ")"
		} else if row.Flag != "" {
			line += " (flag `" + row.Flag + "`)"
		}
		b.WriteString(line + "\n")
	}

	fmt.Fprintf(&b, "\n### Work, with a difference (%d)\n\n| Annotation | Difference |\n|---|---|\n", len(differ))
	for _, row := range differ {
		fmt.Fprintf(&b, "| %s | %s |\n", annotationName(row), strings.ReplaceAll(migrationDifferences[row.Key], "|", "\\|"))
	}

	fmt.Fprintf(&b, "\n### Accepted with a warning, not acted on (%d)\n\n", len(warned))
	b.WriteString("The pod is admitted and injected as if the annotation were absent. ")
	b.WriteString("Set to its default value (exactly as written here), an annotation in this list is silent; any other value makes the admission response carry the warning ")
	ex := migrationExamples[0]
	w, _ := ex.answer(t)
	require.Len(t, w, 1, "example %q", ex.what)
	b.WriteString("`" + strings.ReplaceAll(w[0], AnnCacheEnable, "<annotation>") + "`, which `kubectl apply` prints.\n\n")
	b.WriteString("| Annotation | Silent at | vault-k8s used it for |\n|---|---|---|\n")
	for _, row := range warned {
		def := "(no value)"
		if row.Default != "" {
			def = "`" + row.Default + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", annotationName(row), def, strings.ReplaceAll(row.Doc, "|", "\\|"))
	}

	b.WriteString("\n### What admission answers\n\n")
	b.WriteString("Quoted from the injector's answers to a pod with `agent-inject`, `role` and two secrets, and the change named:\n\n")
	b.WriteString("| Change | Warning (pod admitted) or denial (pod refused) |\n|---|---|\n")
	for _, ex := range migrationExamples {
		warnings, denial := ex.answer(t)
		var parts []string
		for _, w := range warnings {
			parts = append(parts, "warning: `"+w+"`")
		}
		if denial != "" {
			parts = append(parts, "**denied**: `"+denial+"`")
		}
		require.NotEmpty(t, parts, "example %q has no answer to quote", ex.what)
		fmt.Fprintf(&b, "| %s | %s |\n", ex.what, strings.ReplaceAll(strings.Join(parts, "<br>"), "|", "\\|"))
	}
	return b.String()
}

// TestMigrationDocs keeps the generated part of docs/migrate-from-vault-k8s.md current.
func TestMigrationDocs(t *testing.T) {
	for key := range migrationDifferences {
		i := slices.IndexFunc(Annotations, func(row Annotation) bool { return row.Key == key })
		require.True(t, i >= 0, "%s is not in the table", key)
		require.True(t, Annotations[i].Implemented, "%s is not implemented: it belongs to the warned list", key)
	}
	golden := filepath.Join("..", "docs", migrateDoc)
	raw, err := os.ReadFile(golden)
	require.NoError(t, err)
	doc := string(raw)
	begin, end := strings.Index(doc, migrateBegin), strings.Index(doc, migrateEnd)
	require.True(t, begin >= 0 && end > begin, "%s needs the markers %q and %q", golden, migrateBegin, migrateEnd)
	want := doc[:begin+len(migrateBegin)] + "\n\n" + migrationMarkdown(t) + "\n" + doc[end:]
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(want), 0o644))
		return
	}
	assert.Equal(t, want, doc, "the generated part of docs/%s is stale: run go test ./injector -run TestMigrationDocs -update", migrateDoc)
}

// TestMigrationFacts checks what the guide's prose says about vaultkube against vault-k8s.
func TestMigrationFacts(t *testing.T) {
	t.Run("warned annotations are silent at their default and warn otherwise", func(t *testing.T) {
		for _, row := range Annotations {
			if row.Implemented {
				continue
			}
			key := keyFor(row)
			_, w, err := Mutate(loadPod(t, "web", basic(key, row.Default)), testConfig())
			require.NoError(t, err)
			assert.Empty(t, w, key)
			_, w, err = Mutate(loadPod(t, "web", basic(key, row.Default+"1")), testConfig())
			require.NoError(t, err)
			assert.Equal(t, []string{fmt.Sprintf("annotation %s is not supported by vaultkube yet and is ignored", key)}, w)
		}
	})

	t.Run("the agent has its own projected token with audience vault, also without automount", func(t *testing.T) {
		for _, fixture := range []string{"web", "job-no-automount"} {
			out, w := mustMutate(t, loadPod(t, fixture, basic()), testConfig())
			assert.Empty(t, w)
			v := findVolume(out, VolumeToken)
			require.NotNil(t, v, fixture)
			require.NotNil(t, v.Projected)
			sa := v.Projected.Sources[0].ServiceAccountToken
			require.NotNil(t, sa)
			assert.Equal(t, "vault", sa.Audience)
			assert.Equal(t, int64(3600), *sa.ExpirationSeconds)
			agent := findContainer(out.Spec.Containers, AgentContainerName)
			require.NotNil(t, agent)
			assert.Contains(t, agent.VolumeMounts, corev1.VolumeMount{Name: VolumeToken, MountPath: TokenDir, ReadOnly: true})
		}
	})

	t.Run("container names: native sidecar by default, classic on request", func(t *testing.T) {
		cfg := testConfig()
		cfg.NativeSidecar = NativeAuto // an unknown API server version counts as >= 1.29
		out, _ := mustMutate(t, loadPod(t, "web", basic()), cfg)
		assert.Nil(t, findContainer(out.Spec.Containers, AgentContainerName))
		native := findContainer(out.Spec.InitContainers, AgentContainerName)
		require.NotNil(t, native)
		require.NotNil(t, native.RestartPolicy)
		assert.Equal(t, corev1.ContainerRestartPolicyAlways, *native.RestartPolicy)
		assert.NotNil(t, native.StartupProbe)
		assert.Nil(t, findContainer(out.Spec.InitContainers, InitContainerName), "the native sidecar's startup probe replaces the init container")

		out, _ = mustMutate(t, loadPod(t, "web", basic(ExtNativeSidecar, "false")), cfg)
		assert.NotNil(t, findContainer(out.Spec.Containers, AgentContainerName))
		assert.NotNil(t, findContainer(out.Spec.InitContainers, InitContainerName))
		cfg.ServerVersion = "v1.28.9"
		out, _ = mustMutate(t, loadPod(t, "web", basic()), cfg)
		assert.NotNil(t, findContainer(out.Spec.Containers, AgentContainerName), "a known 1.28 gets the classic sidecar")
	})

	t.Run("the agent container runs the agent binary without a shell", func(t *testing.T) {
		out, _ := mustMutate(t, loadPod(t, "web", basic()), testConfig())
		agent := findContainer(out.Spec.Containers, AgentContainerName)
		require.NotNil(t, agent)
		assert.Equal(t, AgentCommand, agent.Command)
		assert.Equal(t, "/vaultkube-agent", AgentBinary)
		agentConfigOf(t, agent) // the configuration is JSON in VAULTKUBE_AGENT_CONFIG
		assert.Contains(t, migrationDifferences[AnnJSONPatch], "VAULTKUBE_AGENT_CONFIG")
	})

	t.Run("a Vault image in agent-image is replaced", func(t *testing.T) {
		for _, img := range []string{"hashicorp/vault:1.21.1", "registry.example.com/mirror/vault-enterprise:1.19-ent"} {
			out, w := mustMutate(t, loadPod(t, "web", basic(AnnImage, img)), testConfig())
			assert.Equal(t, DefaultAgentImage, findContainer(out.Spec.Containers, AgentContainerName).Image)
			assert.Len(t, w, 1)
		}
	})

	t.Run("auth types other than kubernetes and jwt are refused", func(t *testing.T) {
		for _, typ := range []string{"approle", "aws", "gcp", "azure", "cert"} {
			_, _, err := Mutate(loadPod(t, "web", basic(AnnAuthType, typ)), testConfig())
			assert.Error(t, err, typ)
		}
		for _, typ := range []string{"kubernetes", "jwt"} {
			_, _, err := Mutate(loadPod(t, "web", basic(AnnAuthType, typ)), testConfig())
			assert.NoError(t, err, typ)
		}
	})

	t.Run("agent-configmap alone: injected, warned, the annotations' secrets only", func(t *testing.T) {
		ann := map[string]string{AnnInject: "true", AnnRole: "web", AnnConfigMap: "vault-agent-config"}
		out, w := mustMutate(t, loadPod(t, "web", ann), testConfig())
		assert.Equal(t, []string{fmt.Sprintf("annotation %s is not supported by vaultkube yet and is ignored", AnnConfigMap)}, w)
		assert.Equal(t, StatusInjected, out.Annotations[AnnStatus])
		cfg := agentConfigOf(t, findContainer(out.Spec.Containers, AgentContainerName))
		assert.Empty(t, cfg.Templates, "no secret annotation, nothing to render")
	})

	t.Run("agent-init-json-patch: vault-agent-init or vaultkube-install; a warning with a native sidecar", func(t *testing.T) {
		patch := `[{"op":"replace","path":"/resources/limits/cpu","value":"777m"}]`
		patched := func(c *corev1.Container) bool {
			require.NotNil(t, c)
			return c.Resources.Limits[corev1.ResourceCPU].Equal(resource.MustParse("777m"))
		}
		out, _ := mustMutate(t, loadPod(t, "web", basic(AnnInitJSONPatch, patch)), testConfig())
		assert.True(t, patched(findContainer(out.Spec.InitContainers, InitContainerName)))
		assert.False(t, patched(findContainer(out.Spec.Containers, AgentContainerName)))
		out, _ = mustMutate(t, loadPod(t, "web", basic(AnnInitJSONPatch, patch, ExtInjectEnv, "true")), testConfig())
		assert.True(t, patched(findContainer(out.Spec.InitContainers, InstallContainerName)))
		cfg := testConfig()
		cfg.NativeSidecar = NativeTrue
		out, w := mustMutate(t, loadPod(t, "web", basic(AnnInitJSONPatch, patch)), cfg)
		require.Len(t, w, 1)
		assert.Contains(t, w[0], "annotation "+AnnInitJSONPatch+" is ignored: the pod gets no "+InitContainerName+" container to patch, the agent runs as a native sidecar")
		cfg.NativeSidecar = NativeFalse
		_, w = mustMutate(t, loadPod(t, "web", basic(AnnInitJSONPatch, patch, AnnPrePopulate, "false")), cfg)
		require.Len(t, w, 1)
		assert.Contains(t, w[0], "container to patch, agent-pre-populate is false")
		assert.Nil(t, findContainer(out.Spec.InitContainers, InitContainerName))
		assert.False(t, patched(findContainer(out.Spec.InitContainers, AgentContainerName)))
	})

	t.Run("re-invocation and an earlier vault-k8s injection", func(t *testing.T) {
		// a pod that vault-k8s injected carries agent-inject-status: injected; vaultkube leaves it alone
		pod := loadPod(t, "web", basic(AnnStatus, StatusInjected))
		out, w, err := Mutate(pod, testConfig())
		require.NoError(t, err)
		assert.Same(t, pod, out)
		assert.Empty(t, w)
	})

	t.Run("system and skipped namespaces are never mutated", func(t *testing.T) {
		cfg := testConfig()
		cfg.SkipNamespaces = []string{"legacy"}
		for _, ns := range []string{"kube-system", "kube-public", "legacy"} {
			pod := loadPod(t, "web", basic())
			pod.Namespace = ns
			out, _ := mustMutate(t, pod, cfg)
			assert.Same(t, pod, out, ns)
		}
		assert.True(t, slices.Contains(SystemNamespaces, "kube-system"))
	})
}
