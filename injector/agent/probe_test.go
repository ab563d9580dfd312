package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, ".ready")
	err := probe(ready)
	assert.ErrorIs(t, err, ErrNotReady)
	assert.ErrorContains(t, err, ready)
	require.NoError(t, os.WriteFile(ready, nil, 0o644))
	assert.NoError(t, probe(ready))
	assert.ErrorContains(t, probe(""), "readyFile is empty")
}

func TestProbeCommand(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, ".ready")
	t.Setenv(agentconfig.EnvVar, `{"vault":{"address":"http://v:8200"},"auth":{"role":"r"},"mode":"sidecar","readyFile":"`+ready+`"}`)

	run := func(args ...string) error {
		cmd := NewCmdAgentWithStreams(genericiooptions.NewTestIOStreamsDiscard())
		cmd.SetArgs(append([]string{"probe"}, args...))
		return cmd.Execute()
	}
	assert.ErrorIs(t, run(), ErrNotReady)
	require.NoError(t, os.WriteFile(ready, nil, 0o644))
	assert.NoError(t, run(), "readyFile from the config")
	assert.ErrorIs(t, run("--ready-file", filepath.Join(dir, "other")), ErrNotReady)

	t.Setenv(agentconfig.EnvVar, "")
	assert.ErrorContains(t, run(), agentconfig.EnvVar+" is empty")
}

func TestInstall(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "bin")

	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdAgentWithStreams(streams)
	cmd.SetArgs([]string{"install", dir})
	require.NoError(t, cmd.Execute())

	dst := filepath.Join(dir, "vaultkube")
	assert.Equal(t, "installed "+dst+"\n", out.String())
	fi, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	want, err := os.ReadFile(self)
	require.NoError(t, err)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "an exact copy of the running executable")

	// Installing again replaces the file (an init container that restarts).
	o := &InstallOptions{IOStreams: genericiooptions.NewTestIOStreamsDiscard(), Self: self}
	require.NoError(t, o.Complete([]string{dir}))
	require.NoError(t, o.Run())
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1)

	_, err = installBinary(filepath.Join(t.TempDir(), "missing"), dir)
	assert.ErrorContains(t, err, "open own executable")
}
