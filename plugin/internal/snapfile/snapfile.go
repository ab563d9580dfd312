// Package snapfile checks raft snapshot files on this machine against the FILE.sha256
// written beside them (sha256sum's format).
package snapfile

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vaultkube/vaultkube/plugin/internal/exitcode"
)

// Verify checks a snapshot against FILE.sha256 before anything touches a cluster.
func Verify(file string, noChecksum bool, warn io.Writer) error {
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", file, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return fmt.Errorf("snapshot %s is not a regular non-empty file", file)
	}
	want, err := ReadChecksum(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if noChecksum {
				fmt.Fprintf(warn, "Warning: no %s.sha256; restoring unchecked (--no-checksum).\n", file)
				return nil
			}
			return exitcode.Refusedf("no %s.sha256 beside the snapshot: restore refused (--no-checksum overrides)", file)
		}
		return err
	}
	got, err := SHA256(file)
	if err != nil {
		return err
	}
	if got != want {
		return exitcode.Refusedf("snapshot %s does not match %s.sha256 (sha256 %s, expected %s): restore refused", file, file, got, want)
	}
	return nil
}

// WriteChecksum writes FILE.sha256 (0600, never overwriting).
func WriteChecksum(file, sum string) error {
	f, err := os.OpenFile(file+".sha256", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s  %s\n", sum, filepath.Base(file))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadChecksum reads FILE.sha256 in sha256sum's format.
func ReadChecksum(file string) (string, error) {
	f, err := os.Open(file + ".sha256")
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(io.LimitReader(f, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	sum, ok := ParseChecksumLine(line)
	if !ok {
		return "", fmt.Errorf("%s.sha256 is not in sha256sum format", file)
	}
	return sum, nil
}

// ParseChecksumLine reads the hash of a sha256sum line ("<64 hex>  <name>").
func ParseChecksumLine(line string) (string, bool) {
	sum, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	if _, err := hex.DecodeString(sum); err != nil || len(sum) != 64 {
		return "", false
	}
	return strings.ToLower(sum), true
}

// SHA256 returns the hex sha256 of a file.
func SHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
