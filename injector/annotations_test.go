package injector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validValues are accepted values for implemented rows without a default.
var validValues = map[string]string{
	AnnStatus:                     "update",
	AnnSecret:                     "secret/data/x",
	AnnFile:                       "conf/app.env",
	AnnPerms:                      "0400",
	AnnTemplate:                   `{{ with secret "secret/data/x" }}{{ .Data.data.password }}{{ end }}`,
	AnnTemplateFile:               "/vault/custom/x.ctmpl",
	AnnCommand:                    "/bin/reload --signal HUP",
	AnnAuthConfig:                 "value",
	AnnContainers:                 "web",
	AnnRequestNamespace:           "app",
	AnnExtraSecret:                "extra",
	AnnLimitsEphemeral:            "128Mi",
	AnnRequestsEphemeral:          "64Mi",
	AnnNamespace:                  "team-a",
	AnnShareProcessNamespace:      "true",
	AnnServiceAccountTokenVolume:  "kube-api-access-x7k2p",
	AnnService:                    "http://vault:8200",
	AnnProxyAddress:               "http://proxy:3128",
	AnnTLSSecret:                  "vault-tls",
	AnnTLSServerName:              "vault.example.com",
	AnnCACert:                     "/vault/tls/ca.crt",
	AnnCAKey:                      "/vault/tls",
	AnnClientCert:                 "/vault/tls/tls.crt",
	AnnClientKey:                  "/vault/tls/tls.key",
	AnnGoMaxProcs:                 "2",
	AnnRole:                       "web",
	AnnCopyVolumeMounts:           "web",
	AnnStaticSecretRenderInterval: "2m",
	AnnJSONPatch:                  `[{"op":"add","path":"/env/-","value":{"name":"X","value":"1"}}]`,
	AnnInitJSONPatch:              `[{"op":"add","path":"/env/-","value":{"name":"X","value":"1"}}]`,
	ExtEnvPrefix:                  "DB_",
	ExtNativeSidecar:              "false",
	ExtTokenAudience:              "vault",
}

// invalidValues are rejected values for every implemented row that checks its value.
var invalidValues = map[string]string{
	AnnInject:                     "maybe",
	AnnFile:                       "../../etc/passwd",
	AnnPerms:                      "rw-r--r--",
	AnnTemplateFile:               "templates/x.ctmpl",
	AnnLeftDelim:                  "",
	AnnRightDelim:                 " ",
	AnnCommand:                    `reload "unterminated`,
	AnnErrorOnMissingKey:          "sometimes",
	AnnSecretVolumePath:           "/vault/../etc",
	AnnPreserveSecretCase:         "yes please",
	AnnContainers:                 "web,Not_A_Name",
	AnnDefaultTemplate:            "yaml",
	AnnInjectToken:                "2",
	AnnImage:                      " ",
	AnnInitFirst:                  "first",
	AnnPrePopulate:                "x",
	AnnPrePopulateOnly:            "x",
	AnnExtraSecret:                "Bad_Name",
	AnnLimitsCPU:                  "lots",
	AnnLimitsMem:                  "-1Mi",
	AnnLimitsEphemeral:            "1 GB",
	AnnRequestsCPU:                "fast",
	AnnRequestsMem:                "big",
	AnnRequestsEphemeral:          "x",
	AnnRevokeOnShutdown:           "x",
	AnnRunAsUser:                  "-5",
	AnnRunAsGroup:                 "root",
	AnnRunAsSameUser:              "x",
	AnnShareProcessNamespace:      "x",
	AnnSetSecurityContext:         "x",
	AnnServiceAccountTokenVolume:  "UPPER",
	AnnService:                    "vault:8200",
	AnnProxyAddress:               "ftp://proxy",
	AnnTLSSkipVerify:              "x",
	AnnTLSSecret:                  "-bad-",
	AnnCACert:                     "ca.crt",
	AnnCAKey:                      "/vault/../tls",
	AnnClientCert:                 "tls.crt",
	AnnClientKey:                  "tls.key",
	AnnClientMaxRetries:           "-1",
	AnnClientTimeout:              "soon",
	AnnGoMaxProcs:                 "0",
	AnnLogLevel:                   "verbose",
	AnnLogFormat:                  "xml",
	AnnAuthType:                   "approle",
	AnnAuthPath:                   "",
	AnnCopyVolumeMounts:           "Web!",
	AnnStaticSecretRenderInterval: "often",
	AnnJSONPatch:                  `{"op":"add"}`,
	AnnInitJSONPatch:              `not json`,
	ExtInjectEnv:                  "x",
	ExtEnvPrefix:                  "1-bad",
	ExtNativeSidecar:              "x",
}

// keyFor returns the annotation key exercising a row (secret "db" for per-secret rows).
func keyFor(row Annotation) string {
	if row.PerSecret {
		return row.Key + "-db"
	}
	return row.Key
}

func TestAnnotationTableShape(t *testing.T) {
	assert.Len(t, Annotations, 74, "vault-k8s v1.7 knows 74 annotations")
	seen := map[string]bool{}
	var perSecret, bare []string
	for _, row := range Annotations {
		assert.True(t, strings.HasPrefix(row.Key, Prefix), row.Key)
		assert.False(t, seen[row.Key], "duplicate row %s", row.Key)
		seen[row.Key] = true
		assert.NotEmpty(t, row.Doc, row.Key)
		if row.PerSecret {
			perSecret = append(perSecret, strings.TrimPrefix(row.Key, Prefix))
		}
		if row.Bare {
			assert.True(t, row.PerSecret, row.Key)
			bare = append(bare, strings.TrimPrefix(row.Key, Prefix))
		}
	}
	assert.ElementsMatch(t, []string{
		"agent-inject-secret", "agent-inject-file", "agent-inject-perms", "agent-inject-template",
		"agent-inject-template-file", "agent-template-left-delim", "agent-template-right-delim",
		"agent-inject-command", "error-on-missing-key", "auth-config", "agent-telemetry",
		"secret-volume-path", "preserve-secret-case",
	}, perSecret)
	assert.ElementsMatch(t, []string{"secret-volume-path", "preserve-secret-case"}, bare)
	for _, row := range Extensions {
		assert.True(t, strings.HasPrefix(row.Key, Ext), row.Key)
		assert.True(t, row.Implemented, row.Key)
	}
}

func TestLookupEveryRow(t *testing.T) {
	for _, row := range append(append([]Annotation{}, Annotations...), Extensions...) {
		t.Run(row.Key, func(t *testing.T) {
			got, name, ok := Lookup(keyFor(row))
			require.True(t, ok)
			assert.Equal(t, row.Key, got.Key)
			if row.PerSecret {
				assert.Equal(t, "db", name)
				got, name, ok = Lookup(row.Key + "-my-Secret-2")
				require.True(t, ok)
				assert.Equal(t, row.Key, got.Key)
				assert.Equal(t, "my-Secret-2", name, "the secret name is everything after the prefix, dashes included")
			}
			if !row.PerSecret || !row.Bare {
				// a near miss must not resolve to this row
				if got, _, ok2 := Lookup(row.Key + "x"); ok2 {
					assert.NotEqual(t, row.Key, got.Key)
				}
			}
		})
	}
	// The longest prefix wins: template-file is not template "file-db".
	row, name, ok := Lookup(AnnTemplateFile + "-db")
	require.True(t, ok)
	assert.Equal(t, AnnTemplateFile, row.Key)
	assert.Equal(t, "db", name)
}

func TestEveryRowDefaultAndValidValue(t *testing.T) {
	for _, row := range append(append([]Annotation{}, Annotations...), Extensions...) {
		t.Run(row.Key, func(t *testing.T) {
			if row.Default != "" && row.Check != nil {
				assert.NoError(t, row.Check(row.Default), "the default must pass the row's check")
			}
			if !row.Implemented {
				return
			}
			v, ok := validValues[row.Key]
			if !ok {
				v = row.Default
			}
			require.True(t, ok || row.Default != "", "add a valid value for %s to validValues", row.Key)
			ann := basic(keyFor(row), v)
			if row.Key == AnnAuthPath || row.Key == AnnImage {
				ann[row.Key] = v
			}
			pod := loadPod(t, "web", ann)
			_, warnings, err := Mutate(pod, testConfig())
			require.NoError(t, err)
			for _, w := range warnings {
				assert.NotContains(t, w, "not supported", "implemented row %s warned: %s", row.Key, w)
			}
		})
	}
}

func TestEveryCheckedRowDeniesInvalidValue(t *testing.T) {
	for _, row := range append(append([]Annotation{}, Annotations...), Extensions...) {
		if !row.Implemented || row.Check == nil {
			continue
		}
		t.Run(row.Key, func(t *testing.T) {
			bad, ok := invalidValues[row.Key]
			require.True(t, ok, "add an invalid value for %s to invalidValues", row.Key)
			key := keyFor(row)
			pod := loadPod(t, "web", basic(key, bad))
			if row.Key == AnnInject {
				pod.Annotations[AnnInject] = bad
			}
			out, _, err := Mutate(pod, testConfig())
			require.Error(t, err)
			assert.Nil(t, out)
			assert.Contains(t, err.Error(), "annotation "+key+":", "the denial names the annotation")
		})
	}
}

func TestEveryUnimplementedRowWarns(t *testing.T) {
	n := 0
	for _, row := range Annotations {
		if row.Implemented {
			continue
		}
		n++
		t.Run(row.Key, func(t *testing.T) {
			key := keyFor(row)
			_, warnings, err := Mutate(loadPod(t, "web", basic(key, "something-else")), testConfig())
			require.NoError(t, err)
			require.Len(t, warnings, 1)
			assert.Contains(t, warnings[0], key)
			assert.Contains(t, warnings[0], "not supported")
			if row.Default != "" && !row.PerSecret {
				_, warnings, err = Mutate(loadPod(t, "web", basic(key, row.Default)), testConfig())
				require.NoError(t, err)
				assert.Empty(t, warnings, "the default value changes nothing and needs no warning")
			}
		})
	}
	t.Logf("%d of %d annotations are warned", n, len(Annotations))
}

func TestUnknownAnnotationsWarn(t *testing.T) {
	ann := basic(Prefix+"agent-inject-secrets-typo", "x", Ext+"agent-inject-environment", "true", "example.com/other", "x")
	_, warnings, err := Mutate(loadPod(t, "web", ann), testConfig())
	require.NoError(t, err)
	require.Len(t, warnings, 2)
	assert.Contains(t, warnings[0], Prefix+"agent-inject-secrets-typo")
	assert.Contains(t, warnings[1], Ext+"agent-inject-environment")
}

func TestAnnotationDocs(t *testing.T) {
	got := Markdown()
	for _, row := range Annotations {
		assert.Contains(t, got, "`"+row.Key, row.Key)
	}
	golden := filepath.Join("..", "docs", "annotations.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./injector -run TestAnnotationDocs -update")
	assert.Equal(t, string(want), got, "docs are stale: run with -update")
}

// TestDefaultsMatchTable checks, for every implemented row with a default, that setting the
// annotation to its documented default changes nothing in the injected pod.
func TestDefaultsMatchTable(t *testing.T) {
	// Absent means "the agent's own default", which is the documented value; the explicit
	// value is passed on and so shows in the agent configuration.
	passedOn := map[string]bool{AnnClientMaxRetries: true, AnnClientTimeout: true}
	for _, row := range append(append([]Annotation{}, Annotations...), Extensions...) {
		if !row.Implemented || row.Default == "" || passedOn[row.Key] || row.Key == AnnInject {
			continue
		}
		t.Run(row.Key, func(t *testing.T) {
			without, _ := mustMutate(t, loadPod(t, "web", basic()), testConfig())
			with, _ := mustMutate(t, loadPod(t, "web", basic(keyFor(row), row.Default)), testConfig())
			delete(with.Annotations, keyFor(row))
			assert.Equal(t, without, with)
		})
	}
}
