// Command release builds a kubectl plugin for every release platform (static, -trimpath)
// and writes what a release publishes: one archive per platform (tar.gz, zip for windows)
// with the binary, LICENSE (README.md when there is no LICENSE) and kubectl_complete-vault,
// checksums.txt in `sha256sum -c` format, and the krew plugin manifest (from the template
// plugin/krew/vault.yaml). `make release` runs it:
//
//	release -version v0.1.0 -url https://github.com/vaultkube/vaultkube/releases/download/v0.1.0 \
//	  -ldflags "-s -w -X ...version.Version=v0.1.0" -o dist/release ./cmd/kubectl-vault
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg := Config{Name: "kubectl-vault", Plugin: "vault"}
	flag := flag.NewFlagSet("release", flag.ContinueOnError)
	flag.StringVar(&cfg.Version, "version", "", "release `version`, vMAJOR.MINOR.PATCH[-PRE]")
	flag.StringVar(&cfg.URL, "url", "", "download `URL` of the archives (the krew manifest's uri is URL/ARCHIVE)")
	flag.StringVar(&cfg.Out, "o", "dist/release", "output `directory`")
	flag.StringVar(&cfg.Name, "name", cfg.Name, "binary `name`")
	flag.StringVar(&cfg.Plugin, "plugin", cfg.Plugin, "krew plugin `name` (kubectl PLUGIN)")
	flag.StringVar(&cfg.Krew, "krew", "plugin/krew/vault.yaml", "krew manifest `template`: all but the version and the platforms")
	platforms := flag.String("platforms", "", "comma-separated `os/arch` list (default all six)")
	ldflags := flag.String("ldflags", "-s -w", "go build -ldflags")
	epoch := flag.Int64("epoch", sourceDateEpoch(), "`seconds` since 1970 for the archives' timestamps (default $SOURCE_DATE_EPOCH or 0)")
	if err := flag.Parse(args); err != nil {
		return err
	}
	if flag.NArg() != 1 {
		return fmt.Errorf("want one package to build, for example ./cmd/kubectl-vault")
	}
	pkg := flag.Arg(0)
	cfg.Platforms = DefaultPlatforms
	if *platforms != "" {
		p, err := ParsePlatforms(*platforms)
		if err != nil {
			return err
		}
		cfg.Platforms = p
	}
	cfg.Time = time.Unix(*epoch, 0).UTC()
	// krew's index wants a LICENSE in every archive; without one, the README says what it is.
	// kubectl_complete-vault makes `kubectl vault <TAB>` complete (kubectl 1.26+).
	cfg.Files = []string{"LICENSE", "cmd/kubectl-vault/kubectl_complete-vault"}
	if _, err := os.Stat("LICENSE"); err != nil {
		cfg.Files[0] = "README.md"
	}
	arts, err := Release(ctx, cfg, goBuild(pkg, *ldflags))
	if err != nil {
		return err
	}
	for _, a := range arts {
		fmt.Printf("%s  %s\n", a.SHA256, filepath.Join(cfg.Out, a.Archive))
	}
	fmt.Printf("krew manifest: %s\n", filepath.Join(cfg.Out, cfg.Plugin+".yaml"))
	return nil
}

// goBuild builds pkg statically with -trimpath for each platform.
func goBuild(pkg, ldflags string) Builder {
	return func(ctx context.Context, p Platform, dest string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", dest, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
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
