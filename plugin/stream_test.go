package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/plugin/internal/snapfile"
)

// patternReader yields n deterministic pseudo-random bytes without holding them.
type patternReader struct {
	n, off int64
	x      uint64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n-r.off {
		p = p[:r.n-r.off]
	}
	for i := range p {
		r.x ^= r.x << 13
		r.x ^= r.x >> 7
		r.x ^= r.x << 17
		p[i] = byte(r.x)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// bigSnapshotExec is the simulated Vault, except that snapshot files are streams of size
// bytes that are generated or hashed on the fly, never stored.
type bigSnapshotExec struct {
	*fakeCluster
	size     int64
	received map[string]string // path → sha256 of what was streamed in
}

func (b *bigSnapshotExec) Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	last := cmd[len(cmd)-1]
	if !strings.Contains(last, ".kubectl-vault-") {
		return b.fakeCluster.Exec(ctx, pod, cmd, stdin, stdout, stderr)
	}
	switch {
	case cmd[0] == "cat":
		_, err := io.Copy(stdout, &patternReader{n: b.size, x: 42})
		return err
	case cmd[0] == "sha256sum":
		sum, ok := b.received[last]
		if !ok {
			h := sha256.New()
			_, _ = io.Copy(h, &patternReader{n: b.size, x: 42})
			sum = hex.EncodeToString(h.Sum(nil))
		}
		fmt.Fprintf(stdout, "%s  %s\n", sum, last)
		return nil
	case cmd[0] == "sh" && cmd[2] == `umask 077 && cat > "$0"`:
		h := sha256.New()
		if _, err := io.Copy(h, stdin); err != nil {
			return err
		}
		b.received[last] = hex.EncodeToString(h.Sum(nil))
		return nil
	case cmd[0] == "rm":
		return nil
	}
	// vault operator raft snapshot save/restore through the token script
	var in []byte
	if stdin != nil {
		in, _ = io.ReadAll(stdin)
	}
	if cmd[0] == "sh" && strings.HasPrefix(string(in), testToken+"\n") {
		return nil
	}
	return fakeExitError{2}
}

// TestSnapshotStreamsWithoutHoldingTheSnapshot saves and restores a 64 MiB snapshot and
// checks that the bytes allocated stay far below its size: it is streamed, never buffered.
func TestSnapshotStreamsWithoutHoldingTheSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB")
	}
	const size = 64 << 20
	fc := healthy3()
	ex := &bigSnapshotExec{fakeCluster: fc, size: size, received: map[string]string{}}
	cl := fc.cluster()
	cl.Exec = ex
	tok := writeTokenFile(t)
	snap := filepath.Join(t.TempDir(), "big.snap")

	measure := func(args ...string) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var out, errb strings.Builder
		_, errOut, code := runWith(t, cl, "", &out, &errb, args...)
		require.Equal(t, 0, code, errOut)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	saved := measure("snapshot", "save", snap, "--vault-token-file", tok)
	fi, err := os.Stat(snap)
	require.NoError(t, err)
	assert.Equal(t, int64(size), fi.Size())
	assert.Less(t, saved, uint64(size/8), "snapshot save allocated %d bytes for a %d-byte snapshot", saved, size)

	restored := measure("snapshot", "restore", snap, "--yes", "--vault-token-file", tok)
	assert.Less(t, restored, uint64(size/8), "snapshot restore allocated %d bytes for a %d-byte snapshot", restored, size)
	want, _ := snapfile.SHA256(snap)
	for _, got := range ex.received {
		assert.Equal(t, want, got, "the pod received the file unchanged")
	}
	t.Logf("allocated: save %d KiB, restore %d KiB for a %d MiB snapshot", saved>>10, restored>>10, size>>20)
}
