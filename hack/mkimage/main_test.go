package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildImageArchive(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tool")
	require.NoError(t, os.WriteFile(src, []byte("#!binary"), 0o644))
	out := filepath.Join(dir, "img.tar")
	require.NoError(t, run([]string{"-o", out, "-ref", "vaultkube.local/test:dev", "-entrypoint", "/bin/tool,serve",
		"-file", "/bin/tool=" + src + ":0750", "-link", "/bin/sh=tool", "-dir", "/tmp=1777", "-env", "HOME=/home"}))

	img, err := tarball.ImageFromPath(out, nil)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/bin/tool", "serve"}, cf.Config.Entrypoint)
	assert.Equal(t, "linux", cf.OS)
	assert.Equal(t, "amd64", cf.Architecture)
	assert.Contains(t, cf.Config.Env, "HOME=/home")

	entries := map[string]*tar.Header{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		entries[h.Name] = h
		if h.Name == "bin/tool" {
			b, _ := io.ReadAll(tr)
			assert.Equal(t, "#!binary", string(b))
		}
	}
	require.Contains(t, entries, "bin/tool")
	assert.Equal(t, int64(0o750), entries["bin/tool"].Mode)
	require.Contains(t, entries, "bin/sh")
	assert.Equal(t, "tool", entries["bin/sh"].Linkname)
	require.Contains(t, entries, "tmp")
	assert.Equal(t, int64(0o1777), entries["tmp"].Mode&0o7777)
	assert.Contains(t, entries, "bin", "parent directories are written")
}

func TestBadArguments(t *testing.T) {
	for name, args := range map[string][]string{
		"no output":     {"-ref", "a/b:c"},
		"relative file": {"-o", "x.tar", "-ref", "a/b:c", "-file", "bin/x=/etc/hostname"},
		"bad dir mode":  {"-o", "x.tar", "-ref", "a/b:c", "-dir", "/tmp=rwx"},
		"bad ref":       {"-o", "x.tar", "-ref", "UPPER/case:tag"},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Error(t, run(args))
		})
	}
}
