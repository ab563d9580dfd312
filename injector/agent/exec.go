package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// forwardedSignals are passed on to the child in exec mode.
var forwardedSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH,
}

// terminating reports whether sig ends a process by default (the others are only
// forwarded, never acted on by the agent).
func terminating(sig os.Signal) bool {
	switch sig {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT:
		return true
	}
	return false
}

// execIO is what the child process inherits.
type execIO struct {
	In       io.Reader
	Out, Err io.Writer
}

// runExec is `vaultkube agent exec -- COMMAND ARGS...`: log in, render the secrets in
// memory, start COMMAND with them in its environment, forward signals to it, keep token
// and leases renewed while it runs, and return its exit code. Secrets never touch the
// disk or the logs. Signals that arrive before COMMAND starts end the agent with 128+signal.
func runExec(cfg *agentconfig.Config, argv []string, logOut io.Writer, cio execIO, tuning Tuning) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("exec needs a command: vaultkube agent exec -- COMMAND [ARGS...]")
	}
	s, err := newSession(cfg, logOut, tuning)
	if err != nil {
		return 0, err
	}
	templates, err := buildTemplates(cfg.Templates, true)
	if err != nil {
		return 0, err
	}
	interval, err := s.staticInterval()
	if err != nil {
		return 0, err
	}
	start := time.Now()

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var preStartSig os.Signal
	var sigMu sync.Mutex
	started, watcherDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watcherDone)
		for {
			select {
			case sig := <-sigs:
				if !terminating(sig) {
					s.log.Debug("signal before the command started; ignored", "signal", sig.String())
					continue
				}
				sigMu.Lock()
				preStartSig = sig
				sigMu.Unlock()
				s.log.Info("signal before the command started; stopping", "signal", sig.String())
				cancel()
				return
			case <-started:
				return
			}
		}
	}()

	s.log.Info("agent starting", "mode", "exec", "vault", cfg.Vault.Address, "templates", len(templates), "command", argv[0])
	first, err := s.login(ctx, true)
	if err != nil {
		return signalExit(&sigMu, &preStartSig, err)
	}
	tokens := make(latest, 1)
	tokens.put(first.Auth.ClientToken)

	snk := newSink(s.log, templates, true, cio.Out, cio.Err)
	readyCh := make(chan struct{})
	var readyOnce sync.Once
	e := &engine{
		vault: cfg.Vault, log: s.log, templates: templates, sink: snk,
		retry: tuning.Render, restartBackoff: tuning.RestartBackoff, staticInterval: interval,
		failBeforeReady: true,
		onError:         s.runnerFailed,
		onReady:         func() { readyOnce.Do(func() { close(readyCh) }) },
	}
	var wg sync.WaitGroup
	engineErr := make(chan error, 1)
	if len(templates) == 0 {
		close(readyCh)
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			engineErr <- e.run(ctx, tokens)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.keepToken(ctx, first, tokens)
	}()
	stopAll := func() {
		cancel()
		wg.Wait()
		if cfg.RevokeOnShutdown {
			s.revoke()
		}
	}

	select {
	case <-readyCh:
	case err := <-engineErr:
		stopAll()
		if err == nil {
			err = errors.New("the template runner stopped before the secrets were read")
		}
		return signalExit(&sigMu, &preStartSig, err)
	}

	base := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(s.proxyVars, k) // the agent's, not the command's
	})
	env, nvars, err := childEnv(base, templates, snk.snapshot())
	if err != nil {
		stopAll()
		return 0, err
	}
	// Stop the pre-start watcher before starting, so that every later signal reaches the child.
	close(started)
	<-watcherDone
	sigMu.Lock()
	pending := preStartSig
	sigMu.Unlock()
	if pending != nil {
		// The signal came just as the secrets were ready: do not start the command.
		stopAll()
		return signalExit(&sigMu, &preStartSig, nil)
	}
	s.log.Info("starting command", "command", argv[0], "variables", nvars, "elapsed", time.Since(start).String())
	code, err := superviseChild(argv, env, cio, sigs, s.log)
	stopAll()
	return code, err
}

// superviseChild starts argv with env, forwards every signal from sigs to it until it
// exits, and returns its exit code.
func superviseChild(argv, env []string, cio execIO, sigs <-chan os.Signal, log *slog.Logger) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cio.In, cio.Out, cio.Err
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				log.Debug("forwarding signal", "signal", sig.String())
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	var code int
	var waitErr error
	if os.Getpid() == 1 && inheritsFiles(cio) {
		code, waitErr = reapUntil(cmd.Process.Pid, log)
	} else {
		waitErr = cmd.Wait()
		code = exitCode(cmd.ProcessState, waitErr)
	}
	close(done)
	log.Info("command exited", "command", argv[0], "code", code)
	if code < 0 {
		return 0, fmt.Errorf("wait for %s: %w", argv[0], waitErr)
	}
	return code, nil
}

// inheritsFiles reports whether the child got the streams as files, without copying
// goroutines that only cmd.Wait would flush.
func inheritsFiles(cio execIO) bool {
	for _, s := range []any{cio.In, cio.Out, cio.Err} {
		if s == nil {
			continue
		}
		if _, ok := s.(*os.File); !ok {
			return false
		}
	}
	return true
}

// reapUntil waits for any child until pid exits and returns pid's exit code. As the
// container's PID 1 (env mode replaces the app's command), the agent inherits every
// orphaned process of the container: without reaping, they would stay zombies.
func reapUntil(pid int, log *slog.Logger) (int, error) {
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return -1, err
		}
		if wpid != pid {
			log.Debug("reaped an orphaned process", "pid", wpid)
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
}

// signalExit turns an error caused by a signal before the child started into 128+signal.
func signalExit(mu *sync.Mutex, sig *os.Signal, err error) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	if *sig != nil {
		if s, ok := (*sig).(syscall.Signal); ok {
			return 128 + int(s), nil
		}
	}
	return 0, err
}

// exitCode is the child's exit status, or 128+signal when a signal killed it (the shell's
// convention), or -1 when it is unknown.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	if err != nil {
		return -1
	}
	return 0
}

// childEnv is the agent's environment without its own configuration, plus the secrets
// (which win over variables of the same name).
func childEnv(base []string, templates []*renderTemplate, contents map[string][]byte) ([]string, int, error) {
	vars := map[string]string{}
	for _, t := range templates {
		c, ok := contents[t.destination]
		if !ok {
			return nil, 0, fmt.Errorf("template %s did not render", t.name)
		}
		m, err := envVars(t, c)
		if err != nil {
			return nil, 0, err
		}
		maps.Copy(vars, m)
	}
	env := make([]string, 0, len(base)+len(vars))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if k == agentconfig.EnvVar {
			continue
		}
		if _, override := vars[k]; override {
			continue
		}
		env = append(env, kv)
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env, len(vars), nil
}
