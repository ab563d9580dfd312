package agent

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installBinary copies the executable at self to dir/vaultkube with mode 0755, atomically
// (env mode: an init container puts the agent into a shared emptyDir for `agent exec`).
func installBinary(self, dir string) (string, error) {
	src, err := os.Open(self)
	if err != nil {
		return "", fmt.Errorf("open own executable: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	dst := filepath.Join(dir, "vaultkube")
	f, err := os.CreateTemp(dir, ".vaultkube.tmp-*")
	if err != nil {
		return "", fmt.Errorf("install into %s: %w", dir, err)
	}
	tmp := f.Name()
	fail := func(err error) (string, error) {
		_ = f.Close()
		_ = os.Remove(tmp)
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	if _, err := io.Copy(f, src); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o755); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	return dst, nil
}
