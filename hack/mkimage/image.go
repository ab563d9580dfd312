package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// spec is what every platform's image holds; only {os} and {arch} in file sources differ.
type spec struct {
	files, links, dirs []string // -file, -link and -dir values
	env                []string
	entrypoint         []string
	workdir            string
	user               string
	created            time.Time // every timestamp: config, history and layer entries
}

// linuxArchs are the GOARCH values an image platform may name.
var linuxArchs = map[string]bool{"amd64": true, "arm64": true, "arm": true, "386": true, "ppc64le": true, "s390x": true, "riscv64": true}

// parsePlatforms parses "linux/amd64,linux/arm64".
func parsePlatforms(list string) ([]v1.Platform, error) {
	var out []v1.Platform
	seen := map[string]bool{}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		goos, arch, ok := strings.Cut(p, "/")
		if !ok || goos != "linux" || !linuxArchs[arch] {
			return nil, fmt.Errorf("-platforms: %q is not a linux/ARCH platform (ARCH one of amd64, arm64, arm, 386, ppc64le, s390x, riscv64)", p)
		}
		if seen[p] {
			return nil, fmt.Errorf("-platforms: %s is listed twice", p)
		}
		seen[p] = true
		out = append(out, v1.Platform{OS: goos, Architecture: arch})
	}
	return out, nil
}

// buildIndex builds one OCI image per platform and an OCI index of them, in the given order.
func buildIndex(s spec, platforms []v1.Platform) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		img, err := buildImage(s, p, true)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", p.OS, p.Architecture, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.AppendManifests(idx, adds...), nil
}

// buildImage builds the single-layer image of s for platform p, with OCI media types when oci
// is set and Docker's otherwise.
func buildImage(s spec, p v1.Platform, oci bool) (v1.Image, error) {
	base, layerType := empty.Image, types.DockerLayer
	if oci {
		base = mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
		layerType = types.OCILayer
	}
	layer, err := buildLayer(s, p, layerType)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: s.created}, CreatedBy: "mkimage", Comment: "files from the build host",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: s.created}
	cf.Config.Entrypoint = s.entrypoint
	cf.Config.WorkingDir = s.workdir
	cf.Config.User = s.user
	cf.Config.Env = s.env
	return mutate.ConfigFile(img, cf)
}

// buildLayer writes s's directories, files and links, in that order, into one uncompressed tar
// held in memory, with parent directories added as needed.
func buildLayer(s spec, p v1.Platform, mediaType types.MediaType) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := s.created
	seen := map[string]bool{}
	// parents writes the directories above p that are not written yet.
	parents := func(p string) error {
		var todo []string
		for d := path.Dir(p); d != "/" && d != "." && !seen[d]; d = path.Dir(d) {
			todo = append(todo, d)
		}
		sort.Strings(todo)
		for _, d := range todo {
			seen[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: mtime}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range s.dirs {
		dest, mode, ok := strings.Cut(d, "=")
		m, err := strconv.ParseInt(mode, 8, 32)
		if !ok || err != nil || !path.IsAbs(dest) {
			return nil, fmt.Errorf("-dir %q: want /ABS/PATH=MODE (octal)", d)
		}
		if err := parents(dest); err != nil {
			return nil, err
		}
		seen[dest] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dest, "/") + "/", Mode: m, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	for _, f := range s.files {
		dest, src, ok := strings.Cut(f, "=")
		if !ok || !path.IsAbs(dest) {
			return nil, fmt.Errorf("-file %q: want /ABS/DEST=SRC[:MODE]", f)
		}
		mode := int64(0o755)
		if i := strings.LastIndex(src, ":"); i > 0 {
			m, err := strconv.ParseInt(src[i+1:], 8, 32)
			if err != nil {
				return nil, fmt.Errorf("-file %q: bad mode: %w", f, err)
			}
			mode, src = m, src[:i]
		}
		src = strings.NewReplacer("{os}", p.OS, "{arch}", p.Architecture).Replace(src)
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("-file %s: %w", dest, err)
		}
		if err := parents(dest); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dest, "/"), Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	for _, l := range s.links {
		dest, target, ok := strings.Cut(l, "=")
		if !ok || !path.IsAbs(dest) {
			return nil, fmt.Errorf("-link %q: want /ABS/DEST=TARGET", l)
		}
		if err := parents(dest); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(dest, "/"), Linkname: target, Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(mediaType))
}
