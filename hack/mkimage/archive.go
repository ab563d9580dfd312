package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of index.json's descriptor: containerd names an imported image after the
// first, and the OCI image layout spec's reference name is the second (a tag, as containerd's
// own `ctr images export` writes it).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// imageName is tag's full name as containerd spells it: docker.io/library/x:t for x:t.
func imageName(tag name.Tag) string {
	reg := tag.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return fmt.Sprintf("%s/%s:%s", reg, tag.RepositoryStr(), tag.TagStr())
}

// writeOCIArchive writes idx to out as a tar of an OCI image layout whose index.json has one
// descriptor, idx's, annotated with tag. Every entry of the tar has mtime and owner 0, so that
// the archive depends on idx and tag only.
func writeOCIArchive(out string, tag name.Tag, idx v1.ImageIndex, mtime time.Time) error {
	dir, err := os.MkdirTemp(filepath.Dir(out), ".mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	top := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), mutate.IndexAddendum{
		Add: idx,
		Descriptor: v1.Descriptor{Annotations: map[string]string{
			annotationContainerdName: imageName(tag),
			annotationRefName:        tag.TagStr(),
		}},
	})
	if _, err := layout.Write(dir, top); err != nil {
		return fmt.Errorf("write the OCI layout: %w", err)
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = tarDir(f, dir, mtime)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", out, err)
	}
	return os.Rename(tmp, out)
}

// tarDir writes the tree under dir to w in lexical order, with fixed modes (0755 directories,
// 0644 files), owner 0 and mtime.
func tarDir(w io.Writer, dir string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755, ModTime: mtime})
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", rel)
		}
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		defer fh.Close()
		st, err := fh.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: st.Size(), ModTime: mtime}); err != nil {
			return err
		}
		_, err = io.Copy(tw, fh)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
