// Command mkimage builds container images from local files, without a daemon or a registry,
// and writes them as archives that `ctr images import` accepts. Two output formats:
//
//   - -format docker (the default): one single-layer image for one platform, as a `docker save`
//     tarball (`docker load` reads it too);
//   - -format oci: one single-layer image per -platforms entry in an OCI image index, as a tar
//     of an OCI image layout (oci-layout, index.json, blobs/sha256/...). index.json's one
//     descriptor carries the io.containerd.image.name and org.opencontainers.image.ref.name
//     annotations, so that ctr names the image after -ref.
//
// A -file source may contain {os} and {arch}, replaced by each platform's values, so that one
// command puts each platform's binaries in its image. Every timestamp is -epoch (default
// $SOURCE_DATE_EPOCH, else 0): the same inputs give the same digests.
//
//	mkimage -o vault.tar -ref vaultkube.local/vault:dev -entrypoint /bin/vault \
//	  -file /bin/vault=$HOME/.cache/vaultkube/bin/vault -link /bin/sh=busybox -dir /tmp=1777
//	mkimage -format oci -platforms linux/amd64,linux/arm64 -user 65532:65532 \
//	  -o dist/vaultkube-image.tar -ref vaultkube.local/vaultkube:dev -entrypoint /vaultkube \
//	  -file /vaultkube=dist/bin/{os}_{arch}/vaultkube
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
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
	var s spec
	var files, links, dirs, env multi
	flag := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	out := flag.String("o", "", "output archive `path`")
	ref := flag.String("ref", "", "image reference, for example vaultkube.local/vault:dev")
	format := flag.String("format", "docker", "archive `format`: docker (one platform) or oci (an image index)")
	platforms := flag.String("platforms", "linux/amd64", "comma-separated `os/arch` list (one for -format docker)")
	entry := flag.String("entrypoint", "", "entrypoint, comma-separated argv")
	flag.StringVar(&s.workdir, "workdir", "/", "working directory")
	flag.StringVar(&s.user, "user", "", "`UID:GID` the image runs as (default root)")
	epoch := flag.Int64("epoch", sourceDateEpoch(), "`seconds` since 1970 for every timestamp (default $SOURCE_DATE_EPOCH or 0)")
	flag.Var(&files, "file", "`DEST=SRC[:MODE]` a file into the image (mode defaults to 0755; {os} and {arch} in SRC are the platform's)")
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
	plats, err := parsePlatforms(*platforms)
	if err != nil {
		return err
	}
	s.files, s.links, s.dirs = files, links, dirs
	s.env = append([]string{"PATH=/bin:/usr/bin:/usr/local/bin"}, env...)
	if *entry != "" {
		s.entrypoint = strings.Split(*entry, ",")
	}
	s.created = time.Unix(*epoch, 0).UTC()

	switch *format {
	case "docker":
		if len(plats) != 1 {
			return fmt.Errorf("-format docker holds one platform, not %d: use -format oci", len(plats))
		}
		img, err := buildImage(s, plats[0], false)
		if err != nil {
			return err
		}
		return tarball.WriteToFile(*out, tag, img)
	case "oci":
		idx, err := buildIndex(s, plats)
		if err != nil {
			return err
		}
		return writeOCIArchive(*out, tag, idx, s.created)
	default:
		return fmt.Errorf("-format %q: want docker or oci", *format)
	}
}

// sourceDateEpoch is $SOURCE_DATE_EPOCH (reproducible-builds.org), or 0 when unset or invalid.
func sourceDateEpoch() int64 {
	n, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64)
	if err != nil {
		return 0
	}
	return n
}
