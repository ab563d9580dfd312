package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
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

// fakeBinaries writes DIR/linux_ARCH/NAME for each arch and name, with content "NAME ARCH".
func fakeBinaries(t *testing.T, dir string, names []string, archs ...string) {
	t.Helper()
	for _, arch := range archs {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "linux_"+arch), 0o755))
		for _, n := range names {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "linux_"+arch, n), []byte(n+" "+arch), 0o755))
		}
	}
}

// ociArgs are the arguments of `make image`, for the fake binaries under dir.
func ociArgs(out, dir string) []string {
	return []string{"-format", "oci", "-platforms", "linux/amd64,linux/arm64", "-o", out,
		"-ref", "vaultkube.local/vaultkube:dev", "-entrypoint", "/vaultkube", "-user", "65532:65532",
		"-file", "/vaultkube=" + dir + "/{os}_{arch}/vaultkube",
		"-file", "/vaultkube-injector=" + dir + "/{os}_{arch}/vaultkube-injector"}
}

// untar extracts the archive at path into a new directory and returns it, with the archive's
// headers by name.
func untar(t *testing.T, path string) (string, map[string]*tar.Header) {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir, headers
		}
		require.NoError(t, err)
		headers[h.Name] = h
		dest := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			require.NoError(t, os.MkdirAll(dest, 0o755))
			continue
		}
		require.Equal(t, byte(tar.TypeReg), h.Typeflag, h.Name)
		require.NoError(t, os.MkdirAll(filepath.Dir(dest), 0o755))
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(dest, b, 0o644))
	}
}

// layerFiles returns the image's filesystem as name → content ("" for directories and links).
func layerFiles(t *testing.T, img v1.Image) map[string]string {
	t.Helper()
	files := map[string]string{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = string(b)
	}
}

func TestOCIIndexArchive(t *testing.T) {
	dir := t.TempDir()
	fakeBinaries(t, dir, []string{"vaultkube", "vaultkube-injector"}, "amd64", "arm64")
	out := filepath.Join(dir, "image.tar")
	require.NoError(t, run(ociArgs(out, dir)))

	root, headers := untar(t, out)
	for n, h := range headers {
		assert.Equal(t, int64(0), h.ModTime.Unix(), "%s: mtime", n)
	}
	require.Contains(t, headers, "oci-layout")
	require.Contains(t, headers, "index.json")

	// index.json: one descriptor, the image index, named for containerd.
	var top v1.IndexManifest
	b, err := os.ReadFile(filepath.Join(root, "index.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &top))
	require.Len(t, top.Manifests, 1)
	desc := top.Manifests[0]
	assert.Equal(t, types.OCIImageIndex, desc.MediaType)
	assert.Equal(t, map[string]string{
		"io.containerd.image.name":          "vaultkube.local/vaultkube:dev",
		"org.opencontainers.image.ref.name": "dev",
	}, desc.Annotations)

	lp, err := layout.FromPath(root)
	require.NoError(t, err)
	idx, err := lp.ImageIndex()
	require.NoError(t, err)
	idx, err = idx.ImageIndex(desc.Digest)
	require.NoError(t, err)
	mt, err := idx.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, mt)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	var platforms []string
	for _, m := range im.Manifests {
		require.NotNil(t, m.Platform)
		arch := m.Platform.Architecture
		platforms = append(platforms, m.Platform.OS+"/"+arch)
		assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
		img, err := idx.Image(m.Digest)
		require.NoError(t, err)
		cf, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, "linux", cf.OS)
		assert.Equal(t, arch, cf.Architecture, "the config's platform is the descriptor's")
		assert.Equal(t, "65532:65532", cf.Config.User)
		assert.NotContains(t, []string{"", "0", "root", "0:0"}, cf.Config.User, "non-root")
		assert.Equal(t, []string{"/vaultkube"}, cf.Config.Entrypoint)
		assert.Equal(t, int64(0), cf.Created.Unix())
		layers, err := img.Layers()
		require.NoError(t, err)
		require.Len(t, layers, 1)
		lmt, err := layers[0].MediaType()
		require.NoError(t, err)
		assert.Equal(t, types.OCILayer, lmt)
		assert.Equal(t, map[string]string{
			"vaultkube":          "vaultkube " + arch,
			"vaultkube-injector": "vaultkube-injector " + arch,
		}, layerFiles(t, img), "the given files, each platform's own, and nothing else (no /bin/sh)")
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64"}, platforms)
}

func TestOCIArchiveIsReproducible(t *testing.T) {
	dir := t.TempDir()
	fakeBinaries(t, dir, []string{"vaultkube", "vaultkube-injector"}, "amd64", "arm64")
	digest := func(out string, extra ...string) (string, string) {
		require.NoError(t, run(append(ociArgs(filepath.Join(dir, out), dir), extra...)))
		b, err := os.ReadFile(filepath.Join(dir, out))
		require.NoError(t, err)
		root, _ := untar(t, filepath.Join(dir, out))
		lp, err := layout.FromPath(root)
		require.NoError(t, err)
		idx, err := lp.ImageIndex()
		require.NoError(t, err)
		im, err := idx.IndexManifest()
		require.NoError(t, err)
		require.Len(t, im.Manifests, 1)
		return im.Manifests[0].Digest.String(), fmt.Sprintf("%x", sha256.Sum256(b))
	}
	d1, a1 := digest("one.tar")
	d2, a2 := digest("two.tar")
	assert.Equal(t, d1, d2, "same inputs, same index digest")
	assert.Equal(t, a1, a2, "same inputs, same archive bytes")

	d3, _ := digest("later.tar", "-epoch", "1700000000")
	assert.NotEqual(t, d1, d3, "the timestamp is part of the digest")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "linux_arm64", "vaultkube"), []byte("changed"), 0o755))
	d4, _ := digest("changed.tar")
	assert.NotEqual(t, d1, d4, "a changed binary changes the digest")
}

func TestOCIBadArguments(t *testing.T) {
	dir := t.TempDir()
	fakeBinaries(t, dir, []string{"vaultkube", "vaultkube-injector"}, "amd64")
	out := filepath.Join(dir, "x.tar")
	for _, tc := range []struct {
		name, want string
		args       []string
	}{
		{"docker format with two platforms", "-format docker holds one platform", []string{"-format", "docker"}},
		{"unknown format", `-format "zip"`, []string{"-format", "zip"}},
		{"unknown arch", `"linux/mips" is not a linux/ARCH platform`, []string{"-platforms", "linux/amd64,linux/mips"}},
		{"not linux", `"windows/amd64" is not a linux/ARCH platform`, []string{"-platforms", "windows/amd64"}},
		{"twice", "linux/amd64 is listed twice", []string{"-platforms", "linux/amd64,linux/amd64"}},
		{"missing binary", "linux/arm64: -file /vaultkube: open " + dir + "/linux_arm64/vaultkube: no such file", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(append(ociArgs(out, dir), tc.args...))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NoFileExists(t, out)
		})
	}
}

func TestImageName(t *testing.T) {
	for ref, want := range map[string]string{
		"vaultkube.local/vaultkube:dev":  "vaultkube.local/vaultkube:dev",
		"ghcr.io/vaultkube/vaultkube:v1": "ghcr.io/vaultkube/vaultkube:v1",
		"vaultkube":                      "docker.io/library/vaultkube:latest",
		"localhost:5000/a/b:c":           "localhost:5000/a/b:c",
	} {
		tag, err := name.NewTag(ref)
		require.NoError(t, err)
		assert.Equal(t, want, imageName(tag), ref)
	}
}
