package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// fakeBuild writes "binary OS/ARCH" instead of compiling.
func fakeBuild(_ context.Context, p Platform, dest string) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dest, []byte("binary "+p.String()), 0o755)
}

func testConfig(t *testing.T) Config {
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	require.NoError(t, os.WriteFile(readme, []byte("# read me"), 0o644))
	script := filepath.Join(dir, "kubectl_complete-vault")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755))
	return Config{
		Name: "kubectl-vault", Plugin: "vault", Version: "v1.2.3",
		URL: "https://example.com/releases/v1.2.3/", Out: filepath.Join(dir, "out"),
		Platforms: DefaultPlatforms, Files: []string{readme, script}, Time: time.Unix(1700000000, 0).UTC(),
		Krew: filepath.Join("..", "..", "plugin", "krew", "vault.yaml"),
	}
}

// archiveFiles reads a .tar.gz or .zip into name → content, checking each entry's mode and
// time.
func archiveFiles(t *testing.T, path string, mtime time.Time) map[string]string {
	t.Helper()
	files := map[string]string{}
	mode := func(name string) os.FileMode {
		if strings.HasSuffix(name, ".md") {
			return 0o644
		}
		return 0o755
	}
	if strings.HasSuffix(path, ".zip") {
		zr, err := zip.OpenReader(path)
		require.NoError(t, err)
		defer zr.Close()
		for _, f := range zr.File {
			assert.Equal(t, mode(f.Name), f.Mode().Perm(), f.Name)
			assert.True(t, f.Modified.Equal(mtime), "%s: %v", f.Name, f.Modified)
			rc, err := f.Open()
			require.NoError(t, err)
			b, err := io.ReadAll(rc)
			require.NoError(t, err)
			rc.Close()
			files[f.Name] = string(b)
		}
		return files
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		assert.Equal(t, int64(mode(h.Name)), h.Mode, h.Name)
		assert.True(t, h.ModTime.Equal(mtime), "%s: %v", h.Name, h.ModTime)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[h.Name] = string(b)
	}
}

func TestRelease(t *testing.T) {
	cfg := testConfig(t)
	arts, err := Release(context.Background(), cfg, fakeBuild)
	require.NoError(t, err)
	require.Len(t, arts, 6)

	sums := map[string]string{} // archive → sha256 of the file on disk
	for _, a := range arts {
		t.Run(a.Platform.String(), func(t *testing.T) {
			bin, ext := "kubectl-vault", ".tar.gz"
			if a.Platform.OS == "windows" {
				bin, ext = "kubectl-vault.exe", ".zip"
			}
			assert.Equal(t, "kubectl-vault_v1.2.3_"+a.Platform.OS+"_"+a.Platform.Arch+ext, a.Archive)
			assert.Equal(t, bin, a.Bin)
			path := filepath.Join(cfg.Out, a.Archive)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			sum := sha256.Sum256(b)
			assert.Equal(t, hex.EncodeToString(sum[:]), a.SHA256)
			sums[a.Archive] = a.SHA256
			assert.Equal(t, map[string]string{bin: "binary " + a.Platform.String(), "README.md": "# read me", "kubectl_complete-vault": "#!/bin/sh\n"},
				archiveFiles(t, path, cfg.Time))
		})
	}

	// checksums.txt: `sha256sum -c` lines, one per archive.
	b, err := os.ReadFile(filepath.Join(cfg.Out, "checksums.txt"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	require.Len(t, lines, 6)
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		require.NotNil(t, m, "checksums.txt line %q", l)
		assert.Equal(t, sums[m[2]], m[1], m[2])
	}

	// The krew manifest.
	b, err = os.ReadFile(filepath.Join(cfg.Out, "vault.yaml"))
	require.NoError(t, err)
	var m krewPlugin
	require.NoError(t, yaml.Unmarshal(b, &m))
	assert.Equal(t, "krew.googlecontainertools.github.com/v1alpha2", m.APIVersion)
	assert.Equal(t, "Plugin", m.Kind)
	assert.Equal(t, "vault", m.Metadata.Name)
	assert.Equal(t, "v1.2.3", m.Spec.Version)
	// everything else comes from the template
	var tmpl krewPlugin
	tb, err := os.ReadFile(cfg.Krew)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(tb, &tmpl))
	assert.Equal(t, tmpl.Spec.Homepage, m.Spec.Homepage)
	assert.Equal(t, tmpl.Spec.ShortDescription, m.Spec.ShortDescription)
	assert.Equal(t, tmpl.Spec.Description, m.Spec.Description)
	assert.Equal(t, tmpl.Spec.Caveats, m.Spec.Caveats)
	assert.NotEmpty(t, m.Spec.Caveats)
	require.Len(t, m.Spec.Platforms, 6)
	var selectors []string
	for _, p := range m.Spec.Platforms {
		goos, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		require.Len(t, p.Selector.MatchLabels, 2)
		selectors = append(selectors, goos+"/"+arch)
		archive := fmt.Sprintf("kubectl-vault_v1.2.3_%s_%s.tar.gz", goos, arch)
		bin := "kubectl-vault"
		if goos == "windows" {
			archive, bin = strings.TrimSuffix(archive, ".tar.gz")+".zip", "kubectl-vault.exe"
		}
		assert.Equal(t, "https://example.com/releases/v1.2.3/"+archive, p.URI, "one slash between URL and archive")
		assert.Equal(t, sums[archive], p.SHA256, archive)
		assert.Equal(t, bin, p.Bin)
		assert.Equal(t, []krewFile{{From: bin, To: "."}, {From: "README.md", To: "."}, {From: "kubectl_complete-vault", To: "."}}, p.Files)
	}
	assert.ElementsMatch(t, []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"}, selectors)
}

func TestReleaseIsReproducible(t *testing.T) {
	cfg := testConfig(t)
	first, err := Release(context.Background(), cfg, fakeBuild)
	require.NoError(t, err)
	again, err := Release(context.Background(), cfg, fakeBuild)
	require.NoError(t, err)
	assert.Equal(t, first, again)
	cfg.Time = cfg.Time.Add(time.Hour)
	later, err := Release(context.Background(), cfg, fakeBuild)
	require.NoError(t, err)
	assert.NotEqual(t, first[0].SHA256, later[0].SHA256, "the timestamp is part of the archive")
}

func TestChecksums(t *testing.T) {
	a := strings.Repeat("a", 64)
	b := strings.Repeat("b", 64)
	assert.Equal(t, a+"  x_darwin.tar.gz\n"+b+"  x_linux.tar.gz\n", string(Checksums([]Artifact{
		{Archive: "x_linux.tar.gz", SHA256: b}, {Archive: "x_darwin.tar.gz", SHA256: a},
	})), "sorted by archive, two spaces, newline-terminated")
}

func TestParsePlatforms(t *testing.T) {
	p, err := ParsePlatforms("linux/amd64, windows/arm64")
	require.NoError(t, err)
	assert.Equal(t, []Platform{{"linux", "amd64"}, {"windows", "arm64"}}, p)
	for list, want := range map[string]string{
		"linux/mips":              `unknown platform "linux/mips": want some of linux/amd64, linux/arm64, darwin/amd64`,
		"freebsd/amd64":           `unknown platform "freebsd/amd64"`,
		"linux":                   `unknown platform "linux"`,
		"":                        `unknown platform ""`,
		"linux/amd64,linux/amd64": "platform linux/amd64 is listed twice",
	} {
		_, err := ParsePlatforms(list)
		require.Error(t, err, list)
		assert.Contains(t, err.Error(), want, list)
	}
}

func TestReleaseBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		build  Builder
		want   string
	}{
		{"not semver", func(c *Config) { c.Version = "066cc5b-dirty" }, fakeBuild,
			`version "066cc5b-dirty" is not a semantic version: krew needs vMAJOR.MINOR.PATCH[-PRERELEASE], for example VERSION=v0.1.0`},
		{"no v", func(c *Config) { c.Version = "1.2.3" }, fakeBuild, "is not a semantic version"},
		{"missing file", func(c *Config) { c.Files = []string{"/nonexistent/LICENSE"} }, fakeBuild,
			"file for the archives: stat /nonexistent/LICENSE: no such file or directory"},
		{"bad URL", func(c *Config) { c.URL = "github.com/x" }, fakeBuild, `download URL "github.com/x" is not`},
		{"no platforms", func(c *Config) { c.Platforms = nil }, fakeBuild, "no platforms"},
		{"no krew template", func(c *Config) { c.Krew = "" }, fakeBuild, "the krew manifest template is required"},
		{"krew template sets the version", krewTemplate("  version: v0.0.1\n"), fakeBuild, "sets the version or platforms, which the release fills in"},
		{"krew template with an unknown field", krewTemplate("  shortDescriptoin: typo\n"), fakeBuild, "field shortDescriptoin not found"},
		{"krew template of another plugin", func(c *Config) { c.Plugin = "bao" }, fakeBuild, `names plugin "vault", not "bao"`},
		{"build fails", func(*Config) {}, func(context.Context, Platform, string) error { return fmt.Errorf("exit status 1") },
			"build kubectl-vault for linux/amd64: exit status 1"},
		{"build writes nothing", func(*Config) {}, func(context.Context, Platform, string) error { return nil },
			"package kubectl-vault for linux/amd64: open "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.change(&cfg)
			_, err := Release(context.Background(), cfg, tc.build)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NoFileExists(t, filepath.Join(cfg.Out, "vault.yaml"), "no manifest after a failure")
		})
	}
}

// krewTemplate writes the real template with extra lines appended to its spec.
func krewTemplate(extra string) func(*Config) {
	return func(c *Config) {
		b, err := os.ReadFile(c.Krew)
		if err != nil {
			panic(err)
		}
		c.Krew = filepath.Join(filepath.Dir(c.Files[0]), "vault.yaml")
		if err := os.WriteFile(c.Krew, append(b, extra...), 0o644); err != nil {
			panic(err)
		}
	}
}

func TestRunArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no package", []string{"-version", "v1.0.0", "-url", "https://x"}, "want one package to build"},
		{"unknown platform", []string{"-platforms", "plan9/amd64", "./cmd/kubectl-vault"}, `unknown platform "plan9/amd64"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestKrewManifestIsYAML(t *testing.T) {
	cfg := testConfig(t)
	b, err := KrewManifest(cfg, []Artifact{{Platform: Platform{"linux", "amd64"}, Archive: "a.tar.gz", SHA256: "00", Bin: "kubectl-vault"}})
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte("apiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\nmetadata:\n  name: vault\nspec:\n  version: v1.2.3\n")), string(b))
}
