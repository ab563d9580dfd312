package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/consul-template/renderer"
)

// commandTimeout bounds a command run after a render.
const commandTimeout = 30 * time.Second

// writeFileAtomic writes data to path through a temporary file in the same directory (the
// agent runs from a scratch image: no /tmp, and a rename is only atomic within one file
// system), synced, given perms, then renamed over path. Readers see the old or the new
// file, never a partial one.
func writeFileAtomic(path string, data []byte, perms os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	// Chmod the descriptor: CreateTemp makes 0600 files and the umask must not narrow the
	// requested perms.
	if err = f.Chmod(perms); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	return nil
}

// sink receives consul-template's render results. It is consul-template's RendererFunc:
// files are written atomically with their perms, or (exec mode) kept in memory; commands
// to run after a render are queued and run by the engine once the runner's pass is over,
// in template order, each at most once per pass, as consul-template does.
type sink struct {
	log       *slog.Logger
	templates map[string]*renderTemplate // by destination
	order     []string                   // destinations in config order
	memory    bool
	out, errs io.Writer

	mu       sync.Mutex
	contents map[string][]byte // exec mode: destination → rendered contents
	pending  map[string]bool   // destinations rendered since the last runCommands
}

func newSink(log *slog.Logger, ts []*renderTemplate, memory bool, out, errs io.Writer) *sink {
	s := &sink{
		log: log, templates: map[string]*renderTemplate{}, memory: memory, out: out, errs: errs,
		contents: map[string][]byte{}, pending: map[string]bool{},
	}
	for _, t := range ts {
		s.templates[t.destination] = t
		s.order = append(s.order, t.destination)
	}
	return s
}

// render is a renderer.Renderer.
func (s *sink) render(in *renderer.RenderInput) (*renderer.RenderResult, error) {
	t, ok := s.templates[in.Path]
	if !ok {
		return nil, fmt.Errorf("render: unknown destination %s", in.Path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memory {
		if old, ok := s.contents[in.Path]; ok && bytes.Equal(old, in.Contents) {
			return &renderer.RenderResult{WouldRender: true, Contents: in.Contents}, nil
		}
		s.contents[in.Path] = bytes.Clone(in.Contents)
		s.log.Debug("rendered into memory", "template", t.name)
		return &renderer.RenderResult{DidRender: true, WouldRender: true, Contents: in.Contents}, nil
	}
	if old, err := os.ReadFile(in.Path); err == nil && bytes.Equal(old, in.Contents) {
		if fi, err := os.Stat(in.Path); err == nil && fi.Mode().Perm() == t.perms.Perm() {
			return &renderer.RenderResult{WouldRender: true, Contents: in.Contents}, nil
		}
	}
	if err := writeFileAtomic(in.Path, in.Contents, t.perms); err != nil {
		return nil, err
	}
	s.log.Info("rendered", "template", t.name, "path", in.Path, "perms", fmt.Sprintf("%04o", t.perms.Perm()))
	if len(t.command) > 0 {
		s.pending[in.Path] = true
	}
	return &renderer.RenderResult{DidRender: true, WouldRender: true, Contents: in.Contents}, nil
}

// snapshot returns the in-memory contents by destination.
func (s *sink) snapshot() map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string][]byte, len(s.contents))
	for k, v := range s.contents {
		m[k] = bytes.Clone(v)
	}
	return m
}

// runCommands runs the queued commands (argv, no shell), each distinct command once, in
// template order. A failing command is logged and reported; it does not stop the others.
func (s *sink) runCommands(ctx context.Context) error {
	s.mu.Lock()
	var cmds [][]string
	var names []string
	for _, dest := range s.order {
		if !s.pending[dest] {
			continue
		}
		t := s.templates[dest]
		if slices.ContainsFunc(cmds, func(c []string) bool { return slices.Equal(c, t.command) }) {
			continue
		}
		cmds = append(cmds, t.command)
		names = append(names, t.name)
	}
	clear(s.pending)
	s.mu.Unlock()

	var errs []error
	for i, argv := range cmds {
		cctx, cancel := context.WithTimeout(ctx, commandTimeout)
		cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = s.out, s.errs
		s.log.Info("running command after render", "template", names[i], "command", argv[0])
		err := cmd.Run()
		cancel()
		if err != nil {
			s.log.Error("command after render failed", "template", names[i], "command", argv[0], "error", err)
			errs = append(errs, fmt.Errorf("command %q of template %s: %w", argv[0], names[i], err))
		}
	}
	return errors.Join(errs...)
}
