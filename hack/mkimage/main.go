// Command mkimage builds a single-layer linux/amd64 container image from local files and
// writes it as an image archive that `ctr images import` (or `docker load`) accepts. No
// daemon and no registry are involved.
//
//	mkimage -o vault.tar -ref vaultkube.local/vault:dev -entrypoint /bin/vault \
//	  -file /bin/vault=$HOME/.cache/vaultkube/bin/vault -link /bin/sh=busybox -dir /tmp=1777
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var files, links, dirs, env multi
	flag := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	out := flag.String("o", "", "output archive `path`")
	ref := flag.String("ref", "", "image reference, for example vaultkube.local/vault:dev")
	entry := flag.String("entrypoint", "", "entrypoint, comma-separated argv")
	workdir := flag.String("workdir", "/", "working directory")
	flag.Var(&files, "file", "`DEST=SRC[:MODE]` a file into the image (mode defaults to 0755)")
	flag.Var(&links, "link", "`DEST=TARGET` a symbolic link")
	flag.Var(&dirs, "dir", "`DEST=MODE` a directory")
	flag.Var(&env, "env", "`K=V` an environment variable")
	if err := flag.Parse(args); err != nil {
		return err
	}
	if *out == "" || *ref == "" {
		return fmt.Errorf("-o and -ref are required")
	}
	tag, err := name.NewTag(*ref)
	if err != nil {
		return fmt.Errorf("-ref: %w", err)
	}
	layer, err := buildLayer(files, links, dirs)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	if *entry != "" {
		cf.Config.Entrypoint = strings.Split(*entry, ",")
	}
	cf.Config.WorkingDir = *workdir
	cf.Config.Env = append([]string{"PATH=/bin:/usr/bin:/usr/local/bin"}, env...)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(*out, tag, img)
}

func buildLayer(files, links, dirs []string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
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
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, d := range dirs {
		dest, mode, ok := strings.Cut(d, "=")
		m, err := strconv.ParseInt(mode, 8, 32)
		if !ok || err != nil || !path.IsAbs(dest) {
			return nil, fmt.Errorf("-dir %q: want /ABS/PATH=MODE (octal)", d)
		}
		if err := parents(dest); err != nil {
			return nil, err
		}
		seen[dest] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dest, "/") + "/", Mode: m, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
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
		fh, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		st, err := fh.Stat()
		if err != nil {
			fh.Close()
			return nil, err
		}
		if err := parents(dest); err != nil {
			fh.Close()
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dest, "/"), Mode: mode, Size: st.Size(), ModTime: epoch}); err != nil {
			fh.Close()
			return nil, err
		}
		_, err = io.Copy(tw, fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, l := range links {
		dest, target, ok := strings.Cut(l, "=")
		if !ok || !path.IsAbs(dest) {
			return nil, fmt.Errorf("-link %q: want /ABS/DEST=TARGET", l)
		}
		if err := parents(dest); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(dest, "/"), Linkname: target, Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}
