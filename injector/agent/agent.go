package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// Tuning holds the retry and timing knobs that the JSON config does not carry. Defaults
// fit a pod; tests shorten them.
type Tuning struct {
	// Login bounds the first login in init and exec mode (a sidecar retries forever, and
	// every later login retries forever, with Login's backoff).
	Login RetryPolicy
	// Render bounds the retries of a Vault read: init and exec mode then fail, a sidecar
	// (or exec mode once its command runs) restarts its template runner.
	Render RetryPolicy
	// RestartBackoff is the pause before a failed template runner is started again.
	RestartBackoff time.Duration
}

// DefaultTuning returns about half a minute of login retries and about twenty seconds of read
// retries before an init container gives up (kubelet then restarts it).
func DefaultTuning() Tuning {
	return Tuning{
		Login:          RetryPolicy{Attempts: 8, Backoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second},
		Render:         RetryPolicy{Attempts: 6, Backoff: 250 * time.Millisecond, MaxBackoff: 8 * time.Second},
		RestartBackoff: 5 * time.Second,
	}
}

// session is what every mode shares: the parsed config, the logger, the Vault client and
// the current token.
type session struct {
	cfg    *agentconfig.Config
	log    *slog.Logger
	tuning Tuning
	client *api.Client

	// proxyVars are the proxy variables the agent set in its own environment for
	// Vault.ProxyAddress (exec mode keeps them from the command).
	proxyVars []string

	// rejected asks keepToken for a new login (the runner found the token refused).
	rejected chan struct{}

	mu    sync.Mutex
	token string
}

func newSession(cfg *agentconfig.Config, logOut io.Writer, tuning Tuning) (*session, error) {
	lg, err := newLogger(logOut, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return nil, err
	}
	// consul-template logs through the standard library's logger.
	log.SetFlags(0)
	log.SetOutput(stdlogBridge{log: lg})
	proxyVars, err := applyProxy(cfg.Vault.ProxyAddress)
	if err != nil {
		return nil, err
	}
	c, err := newVaultClient(cfg.Vault)
	if err != nil {
		return nil, err
	}
	return &session{cfg: cfg, log: lg, tuning: tuning, client: c, proxyVars: proxyVars, rejected: make(chan struct{}, 1)}, nil
}

// applyProxy makes addr the proxy of the agent's Vault requests. Both Vault clients (the
// agent's and consul-template's) take their proxy from the environment, as vault agent
// does with vault-k8s's proxy-address, so it sets HTTPS_PROXY and HTTP_PROXY where they
// are unset (first HTTP request of the process reads them) and returns the names it set.
func applyProxy(addr string) ([]string, error) {
	if addr == "" {
		return nil, nil
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("agent config: vault.proxyAddress %q is not an http(s) URL", addr)
	}
	var set []string
	for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY"} {
		if _, ok := os.LookupEnv(k); ok {
			continue
		}
		if err := os.Setenv(k, addr); err != nil {
			return set, err
		}
		set = append(set, k)
	}
	return set, nil
}

func (s *session) staticInterval() (time.Duration, error) {
	if s.cfg.StaticSecretRenderInterval == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s.cfg.StaticSecretRenderInterval)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("agent config: staticSecretRenderInterval %q is not a positive duration", s.cfg.StaticSecretRenderInterval)
	}
	return d, nil
}

// login performs the first login (bounded when bounded is true) and records the token.
func (s *session) login(ctx context.Context, bounded bool) (*api.Secret, error) {
	p := s.tuning.Login
	if !bounded {
		p.Attempts = 0
	}
	secret, err := loginWithRetry(ctx, s.client, s.cfg.Auth, p, s.log)
	if err != nil {
		return nil, err
	}
	if err := s.setToken(secret.Auth.ClientToken); err != nil {
		return nil, err
	}
	return secret, nil
}

// setToken records tok and writes it to the token sink, if one is configured.
func (s *session) setToken(tok string) error {
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
	if s.cfg.TokenSinkPath == "" {
		return nil
	}
	if err := writeFileAtomic(s.cfg.TokenSinkPath, []byte(tok), 0o640); err != nil {
		return fmt.Errorf("token sink: %w", err)
	}
	s.log.Info("token written", "path", s.cfg.TokenSinkPath)
	return nil
}

func (s *session) currentToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// keepToken renews and replaces the token in the background, publishing new ones on out.
func (s *session) keepToken(ctx context.Context, first *api.Secret, out latest) {
	keepToken(ctx, s.client, s.cfg.Auth, first, s.tuning.Login, s.log, s.rejected, func(tok string) {
		if err := s.setToken(tok); err != nil {
			s.log.Error("new token not written", "error", err)
		}
		out.put(tok)
	})
}

// runnerFailed is the engine's onError: when Vault refused the token itself, ask for a new
// login instead of retrying with the same token.
func (s *session) runnerFailed(err error) {
	if tokenRejected(s.client, s.currentToken(), err) {
		s.log.Warn("vault rejected the token; logging in again")
		select {
		case s.rejected <- struct{}{}:
		default:
		}
	}
}

func (s *session) revoke() {
	if tok := s.currentToken(); tok != "" {
		revokeToken(s.client, tok, s.log)
	}
}

func (s *session) touchReady() {
	if s.cfg.ReadyFile == "" {
		return
	}
	if err := writeFileAtomic(s.cfg.ReadyFile, nil, 0o644); err != nil {
		s.log.Error("ready file not written", "path", s.cfg.ReadyFile, "error", err)
		return
	}
	s.log.Debug("ready file written", "path", s.cfg.ReadyFile)
}

// runAgent is `vaultkube agent`: init mode renders once and returns; sidecar mode renders,
// marks readiness, keeps token and leases fresh, re-renders on change until ctx ends, and
// revokes its token at the end if asked to.
func runAgent(ctx context.Context, cfg *agentconfig.Config, logOut, cmdOut, cmdErr io.Writer, tuning Tuning) error {
	s, err := newSession(cfg, logOut, tuning)
	if err != nil {
		return err
	}
	if cfg.Mode == "exec" {
		return errors.New("agent config: mode exec runs as `vaultkube agent exec -- COMMAND [ARGS...]`")
	}
	once := cfg.Mode == "init" || cfg.ExitAfterAuth
	templates, err := buildTemplates(cfg.Templates, false)
	if err != nil {
		return err
	}
	interval, err := s.staticInterval()
	if err != nil {
		return err
	}
	start := time.Now()
	s.log.Info("agent starting", "mode", cfg.Mode, "vault", cfg.Vault.Address, "templates", len(templates))

	first, err := s.login(ctx, once)
	if err != nil {
		if ctx.Err() != nil && !once {
			return nil
		}
		return err
	}
	tokens := make(latest, 1)
	tokens.put(first.Auth.ClientToken)

	rendered := false
	e := &engine{
		vault: cfg.Vault, log: s.log, templates: templates,
		sink:            newSink(s.log, templates, false, cmdOut, cmdErr),
		once:            once,
		retry:           tuning.Render,
		restartBackoff:  tuning.RestartBackoff,
		staticInterval:  interval,
		failBeforeReady: false,
		onError:         s.runnerFailed,
		onReady: func() {
			rendered = true
			s.touchReady()
			s.log.Info("first render complete", "elapsed", time.Since(start).String())
		},
	}
	if once {
		// An init agent is done with its token when it exits, whether it rendered or not
		// (a failed init container starts again and logs in anew); a token written for the
		// app (TokenSinkPath) stays.
		if cfg.RevokeOnShutdown && cfg.TokenSinkPath == "" {
			defer s.revoke()
		}
		if len(templates) == 0 {
			s.touchReady()
			s.log.Info("no templates; done after login")
		} else if err := e.run(ctx, tokens); err != nil {
			return err
		} else if !rendered {
			// A signal ended the run: an init container must not pass without its files.
			return fmt.Errorf("%w: stopped before every template rendered", ErrRender)
		}
		return nil
	}

	bg, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.keepToken(bg, first, tokens)
	}()
	if len(templates) == 0 {
		s.touchReady()
		<-ctx.Done()
	} else {
		err = e.run(ctx, tokens)
	}
	cancel()
	wg.Wait()
	if cfg.RevokeOnShutdown {
		s.revoke()
	}
	s.log.Info("agent stopped")
	return err
}
