package plugin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestKrewManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("krew", "vault.yaml"))
	require.NoError(t, err)
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct{ Name string }
		Spec       struct {
			Version          string
			ShortDescription string `json:"shortDescription"`
			Description      string
			Homepage         string
			Platforms        []struct {
				URI   string
				Bin   string
				Files []struct{ From, To string }
			}
		}
	}
	require.NoError(t, yaml.Unmarshal(b, &m))
	assert.Equal(t, "krew.googlecontainertools.github.com/v1alpha2", m.APIVersion)
	assert.Equal(t, "Plugin", m.Kind)
	assert.Equal(t, "vault", m.Metadata.Name)
	assert.NotEmpty(t, m.Spec.ShortDescription)
	assert.NotEmpty(t, m.Spec.Description)
	assert.NotEmpty(t, m.Spec.Homepage)
	require.NotEmpty(t, m.Spec.Platforms)
	for _, p := range m.Spec.Platforms {
		assert.Equal(t, "kubectl-vault", p.Bin)
		var froms []string
		for _, f := range p.Files {
			froms = append(froms, f.From)
		}
		assert.Contains(t, froms, "kubectl_complete-vault")
		assert.Contains(t, p.URI, m.Spec.Version)
	}
}

func TestCompletionScriptHandsWordsToComplete(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("..", "cmd", "kubectl-vault", "kubectl_complete-vault"))
	require.NoError(t, err)
	fi, err := os.Stat(script)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode().Perm()&0o111, "the script is executable")
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to run the completion script")
	}
	bin := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "kubectl-vault"), []byte("#!/bin/sh\necho \"$@\"\n"), 0o755))
	c := exec.Command("sh", script, "unseal", "vault-")
	c.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	out, err := c.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "__complete unseal vault-", strings.TrimSpace(string(out)))
}
