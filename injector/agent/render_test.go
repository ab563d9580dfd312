package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/consul-template/renderer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestWriteFileAtomic(t *testing.T) {
	old := syscall.Umask(0o077) // a strict umask must not narrow the requested perms
	defer syscall.Umask(old)

	for _, perms := range []os.FileMode{0o644, 0o600, 0o400, 0o640, 0o755} {
		t.Run(perms.String(), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "sub", "secret")
			require.NoError(t, writeFileAtomic(p, []byte("v1"), perms))
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, "v1", string(got))
			fi, err := os.Stat(p)
			require.NoError(t, err)
			assert.Equal(t, perms, fi.Mode().Perm())

			require.NoError(t, writeFileAtomic(p, []byte("v2"), perms))
			got, _ = os.ReadFile(p)
			assert.Equal(t, "v2", string(got))
			entries, err := os.ReadDir(filepath.Dir(p))
			require.NoError(t, err)
			assert.Len(t, entries, 1, "no temporary file left behind")
		})
	}
}

func TestWriteFileAtomicReplacesByRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	require.NoError(t, writeFileAtomic(p, []byte("old"), 0o644))
	// A reader holding the old file keeps the old contents: the new file is a new inode.
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, writeFileAtomic(p, []byte("new"), 0o644))
	held, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, "old", string(held))
	now, _ := os.ReadFile(p)
	assert.Equal(t, "new", string(now))
}

func TestWriteFileAtomicFailsCleanly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o500))
	defer os.Chmod(dir, 0o700)
	err := writeFileAtomic(filepath.Join(dir, "x"), []byte("v"), 0o644)
	assert.ErrorContains(t, err, "create temporary file")
}

func TestSinkFiles(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "reloaded")
	t.Setenv(helperEnv, "1")
	ts := []*renderTemplate{
		{name: "a", destination: filepath.Join(dir, "a"), perms: 0o600, command: helperArgv(t, "touch", marker)},
		{name: "b", destination: filepath.Join(dir, "b"), perms: 0o644, command: helperArgv(t, "touch", marker)},
	}
	var out bytes.Buffer
	s := newSink(discardLogger(), ts, false, &out, &out)
	render := func(dest, contents string) *renderer.RenderResult {
		t.Helper()
		r, err := s.render(&renderer.RenderInput{Path: dest, Contents: []byte(contents)})
		require.NoError(t, err)
		return r
	}

	r := render(ts[0].destination, "one")
	assert.True(t, r.DidRender)
	assert.True(t, r.WouldRender)
	fi, err := os.Stat(ts[0].destination)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	r = render(ts[0].destination, "one")
	assert.False(t, r.DidRender, "same contents and perms: nothing written")
	assert.True(t, r.WouldRender)

	require.NoError(t, os.Chmod(ts[0].destination, 0o666))
	r = render(ts[0].destination, "one")
	assert.True(t, r.DidRender, "perms drifted: written again")

	render(ts[1].destination, "two")
	require.NoError(t, s.runCommands(context.Background()))
	assert.FileExists(t, marker, "command ran after render")

	// The same command of two templates runs once per pass; nothing pending, nothing runs.
	require.NoError(t, os.Remove(marker))
	require.NoError(t, s.runCommands(context.Background()))
	assert.NoFileExists(t, marker)

	_, err = s.render(&renderer.RenderInput{Path: filepath.Join(dir, "unknown")})
	assert.ErrorContains(t, err, "unknown destination")
}

func TestSinkCommandFailure(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(helperEnv, "1")
	ts := []*renderTemplate{{name: "a", destination: filepath.Join(dir, "a"), perms: 0o644, command: helperArgv(t, "exit", "3")}}
	s := newSink(discardLogger(), ts, false, io.Discard, io.Discard)
	_, err := s.render(&renderer.RenderInput{Path: ts[0].destination, Contents: []byte("x")})
	require.NoError(t, err)
	err = s.runCommands(context.Background())
	assert.ErrorContains(t, err, "template a")
	assert.ErrorContains(t, err, "exit status 3")
}

func TestSinkMemory(t *testing.T) {
	ts := []*renderTemplate{{name: "db", destination: "env:db"}}
	s := newSink(discardLogger(), ts, true, io.Discard, io.Discard)
	r, err := s.render(&renderer.RenderInput{Path: "env:db", Contents: []byte("secret")})
	require.NoError(t, err)
	assert.True(t, r.DidRender)
	r, err = s.render(&renderer.RenderInput{Path: "env:db", Contents: []byte("secret")})
	require.NoError(t, err)
	assert.False(t, r.DidRender)
	assert.Equal(t, map[string][]byte{"env:db": []byte("secret")}, s.snapshot())
	_, err = os.Stat("env:db")
	assert.True(t, os.IsNotExist(err), "memory mode writes no file")
}
