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
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Platform is a GOOS/GOARCH pair that a release has a binary for.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// DefaultPlatforms are the platforms of `make release`: all that krew users run.
var DefaultPlatforms = []Platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// ParsePlatforms parses "linux/amd64,darwin/arm64"; only DefaultPlatforms are known.
func ParsePlatforms(list string) ([]Platform, error) {
	var out []Platform
	seen := map[Platform]bool{}
	for _, s := range strings.Split(list, ",") {
		goos, arch, _ := strings.Cut(strings.TrimSpace(s), "/")
		p := Platform{goos, arch}
		known := false
		for _, d := range DefaultPlatforms {
			known = known || d == p
		}
		if !known {
			var names []string
			for _, d := range DefaultPlatforms {
				names = append(names, d.String())
			}
			return nil, fmt.Errorf("unknown platform %q: want some of %s", s, strings.Join(names, ", "))
		}
		if seen[p] {
			return nil, fmt.Errorf("platform %s is listed twice", p)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// semver is semver.org's version grammar with the leading v that krew requires.
var semver = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// Config is one release of one binary.
type Config struct {
	Name      string     // the binary, kubectl-vault
	Plugin    string     // its krew plugin name, vault
	Version   string     // vMAJOR.MINOR.PATCH[-PRE]
	URL       string     // where the archives are downloaded from: URL/ARCHIVE
	Out       string     // directory of the archives, checksums.txt and the krew manifest
	Platforms []Platform // one archive each
	Files     []string   // paths of files that go into every archive beside the binary
	Krew      string     // the krew manifest template: all but the version and the platforms
	Time      time.Time  // every archive entry's modification time
}

// Validate reports the first problem of c, as one sentence that names the fix.
func (c Config) Validate() error {
	switch {
	case c.Name == "" || c.Plugin == "":
		return fmt.Errorf("the binary and plugin names are required")
	case !semver.MatchString(c.Version):
		return fmt.Errorf("version %q is not a semantic version: krew needs vMAJOR.MINOR.PATCH[-PRERELEASE], for example VERSION=v0.1.0", c.Version)
	case !strings.HasPrefix(c.URL, "https://") && !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "file://"):
		return fmt.Errorf("download URL %q is not an http(s):// or file:// URL", c.URL)
	case c.Out == "":
		return fmt.Errorf("the output directory is required")
	case len(c.Platforms) == 0:
		return fmt.Errorf("no platforms")
	case c.Krew == "":
		return fmt.Errorf("the krew manifest template is required")
	}
	for _, f := range c.Files {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("file for the archives: %w", err)
		}
	}
	return nil
}

// Artifact is one platform's archive.
type Artifact struct {
	Platform Platform
	Archive  string // file name in Config.Out
	SHA256   string // of the archive, hex
	Bin      string // the binary's name in the archive
}

// Builder builds cfg.Name for p into the file dest.
type Builder func(ctx context.Context, p Platform, dest string) error

// Release builds and archives the binary for every platform, then writes checksums.txt and
// the krew manifest PLUGIN.yaml into cfg.Out. The binaries stay in cfg.Out/build/OS_ARCH.
func Release(ctx context.Context, cfg Config, build Builder) ([]Artifact, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, err
	}
	var arts []Artifact
	for _, p := range cfg.Platforms {
		bin := binName(cfg.Name, p)
		dest := filepath.Join(cfg.Out, "build", p.OS+"_"+p.Arch, bin)
		if err := build(ctx, p, dest); err != nil {
			return nil, fmt.Errorf("build %s for %s: %w", cfg.Name, p, err)
		}
		a, err := Package(cfg, p, dest)
		if err != nil {
			return nil, fmt.Errorf("package %s for %s: %w", cfg.Name, p, err)
		}
		arts = append(arts, a)
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "checksums.txt"), Checksums(arts), 0o644); err != nil {
		return nil, err
	}
	m, err := KrewManifest(cfg, arts)
	if err != nil {
		return nil, err
	}
	return arts, os.WriteFile(filepath.Join(cfg.Out, cfg.Plugin+".yaml"), m, 0o644)
}

func binName(name string, p Platform) string {
	if p.OS == "windows" {
		return name + ".exe"
	}
	return name
}

// entry is one file of an archive.
type entry struct {
	name string
	mode int64
	data []byte
}

// Package archives the binary at binary and cfg.Files (flat, beside it) for p into
// cfg.Out: NAME_VERSION_OS_ARCH.tar.gz, or .zip for windows.
func Package(cfg Config, p Platform, binary string) (Artifact, error) {
	bin := binName(cfg.Name, p)
	data, err := os.ReadFile(binary)
	if err != nil {
		return Artifact{}, err
	}
	entries := []entry{{bin, 0o755, data}}
	for _, f := range cfg.Files {
		data, err := os.ReadFile(f)
		if err != nil {
			return Artifact{}, err
		}
		fi, err := os.Stat(f)
		if err != nil {
			return Artifact{}, err
		}
		mode := int64(0o644)
		if fi.Mode().Perm()&0o111 != 0 {
			mode = 0o755 // scripts stay executable (kubectl_complete-vault)
		}
		entries = append(entries, entry{filepath.Base(f), mode, data})
	}
	var buf bytes.Buffer
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
		err = writeZip(&buf, entries, cfg.Time)
	} else {
		err = writeTarGz(&buf, entries, cfg.Time)
	}
	if err != nil {
		return Artifact{}, err
	}
	name := fmt.Sprintf("%s_%s_%s_%s%s", cfg.Name, cfg.Version, p.OS, p.Arch, ext)
	if err := os.WriteFile(filepath.Join(cfg.Out, name), buf.Bytes(), 0o644); err != nil {
		return Artifact{}, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return Artifact{Platform: p, Archive: name, SHA256: hex.EncodeToString(sum[:]), Bin: bin}, nil
}

func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: mtime}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime.UTC()}
		h.SetMode(os.FileMode(e.mode))
		f, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := f.Write(e.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// Checksums is checksums.txt: "SHA256  ARCHIVE" lines sorted by archive, as sha256sum writes
// them and `sha256sum -c` reads them.
func Checksums(arts []Artifact) []byte {
	lines := make([]string, 0, len(arts))
	for _, a := range arts {
		lines = append(lines, a.SHA256+"  "+a.Archive+"\n")
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][65:] < lines[j][65:] })
	return []byte(strings.Join(lines, ""))
}

// The krew plugin manifest (krew.sigs.k8s.io, index.krew.dev), API krew.googlecontainertools.github.com/v1alpha2.
type krewPlugin struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Metadata   krewMetadata `yaml:"metadata"`
	Spec       krewSpec     `yaml:"spec"`
}

type krewMetadata struct {
	Name string `yaml:"name"`
}

type krewSpec struct {
	Version          string         `yaml:"version"`
	Homepage         string         `yaml:"homepage"`
	ShortDescription string         `yaml:"shortDescription"`
	Description      string         `yaml:"description"`
	Caveats          string         `yaml:"caveats,omitempty"`
	Platforms        []krewPlatform `yaml:"platforms"`
}

type krewPlatform struct {
	Selector krewSelector `yaml:"selector"`
	URI      string       `yaml:"uri"`
	SHA256   string       `yaml:"sha256"`
	Bin      string       `yaml:"bin"`
	Files    []krewFile   `yaml:"files"`
}

type krewSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type krewFile struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// KrewManifest is the krew plugin manifest of the archives arts, downloaded from cfg.URL:
// the template cfg.Krew with the version and one platform per archive filled in.
func KrewManifest(cfg Config, arts []Artifact) ([]byte, error) {
	var m krewPlugin
	b, err := os.ReadFile(cfg.Krew)
	if err != nil {
		return nil, fmt.Errorf("krew manifest template: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("krew manifest template %s: %w", cfg.Krew, err)
	}
	switch {
	case m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin":
		return nil, fmt.Errorf("krew manifest template %s: want apiVersion krew.googlecontainertools.github.com/v1alpha2, kind Plugin", cfg.Krew)
	case m.Metadata.Name != cfg.Plugin:
		return nil, fmt.Errorf("krew manifest template %s names plugin %q, not %q", cfg.Krew, m.Metadata.Name, cfg.Plugin)
	case m.Spec.Version != "" || len(m.Spec.Platforms) > 0:
		return nil, fmt.Errorf("krew manifest template %s sets the version or platforms, which the release fills in", cfg.Krew)
	case m.Spec.Homepage == "" || m.Spec.ShortDescription == "" || m.Spec.Description == "":
		return nil, fmt.Errorf("krew manifest template %s needs homepage, shortDescription and description", cfg.Krew)
	}
	m.Spec.Version = cfg.Version
	base := strings.TrimSuffix(cfg.URL, "/")
	for _, a := range arts {
		files := []krewFile{{From: a.Bin, To: "."}}
		for _, f := range cfg.Files {
			files = append(files, krewFile{From: filepath.Base(f), To: "."})
		}
		m.Spec.Platforms = append(m.Spec.Platforms, krewPlatform{
			Selector: krewSelector{MatchLabels: map[string]string{"os": a.Platform.OS, "arch": a.Platform.Arch}},
			URI:      base + "/" + a.Archive,
			SHA256:   a.SHA256,
			Bin:      a.Bin,
			Files:    files,
		})
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
