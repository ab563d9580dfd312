package plugin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

// plugin/krew/vault.yaml is the template of the krew manifest; hack/release's tests check the
// manifest it makes with the platforms filled in.
func TestKrewManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("krew", "vault.yaml"))
	require.NoError(t, err)
	var m struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct{ Name string }
		Spec       map[string]any
	}
	require.NoError(t, yaml.UnmarshalStrict(b, &m))
	assert.Equal(t, "krew.googlecontainertools.github.com/v1alpha2", m.APIVersion)
	assert.Equal(t, "Plugin", m.Kind)
	assert.Equal(t, "vault", m.Metadata.Name)
	for _, k := range []string{"homepage", "shortDescription", "description", "caveats"} {
		assert.NotEmpty(t, m.Spec[k], k)
	}
	assert.NotContains(t, m.Spec, "version", "the release fills it in")
	assert.NotContains(t, m.Spec, "platforms", "the release fills them in")
	// the description names every command
	root, _ := newRoot(genericiooptions.NewTestIOStreamsDiscard(), nil)
	desc := strings.ReplaceAll(m.Spec["description"].(string), "\n", " ")
	for _, c := range root.Commands() {
		switch c.Name() {
		case "completion", "version", "help":
			continue
		}
		assert.Contains(t, desc, c.Name(), "the krew description mentions %s", c.Name())
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
