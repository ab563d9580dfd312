package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	ctconfig "github.com/hashicorp/consul-template/config"
	dep "github.com/hashicorp/consul-template/dependency"
	"github.com/hashicorp/consul-template/manager"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// ErrRender marks a render that failed for good (after its retries in init and exec mode).
var ErrRender = errors.New("render failed")

// engine drives consul-template's Runner with the agent's token: one runner per token
// (a new token restarts it, as vault agent does), the sink as its renderer, commands after
// each pass, and a callback once every template has rendered.
type engine struct {
	vault     agentconfig.Vault
	log       *slog.Logger
	templates []*renderTemplate
	sink      *sink
	// once renders every template once and returns (init mode).
	once bool
	// failBeforeReady returns the runner's error while the first render is not complete
	// (exec mode); a sidecar keeps retrying instead.
	failBeforeReady bool
	// retry is consul-template's retry policy for Vault reads (Attempts 0: unlimited).
	retry RetryPolicy
	// restartBackoff is the pause before a failed runner is started again.
	restartBackoff time.Duration
	// staticInterval is how often static (non-leased) secrets are read again (0: 5 min,
	// vault agent's default).
	staticInterval time.Duration
	// onReady is called once, after the first complete render.
	onReady func()
	// onError is told of a runner failure that the engine retries (sidecar and exec).
	onError func(error)
}

func (e *engine) runnerConfig(token string) *ctconfig.Config {
	conf := ctconfig.DefaultConfig()
	// Not consul-template's once mode, even in init mode: it keys "already rendered" by
	// template text, so of two templates with the same text (the same secret into two
	// files) it renders one. The engine stops the runner itself after the first full pass.
	conf.Once = false
	tcs := make(ctconfig.TemplateConfigs, 0, len(e.templates))
	for _, t := range e.templates {
		tcs = append(tcs, t.ct.Copy())
	}
	conf.Templates = &tcs
	conf.RendererFunc = e.sink.render

	v := e.vault
	conf.Vault.Address = ctconfig.String(v.Address)
	conf.Vault.Namespace = ctconfig.String(v.Namespace)
	conf.Vault.Token = ctconfig.String(token)
	// The agent renews and replaces the token itself; consul-template must not, and must
	// not log in on its own or read tokens from the environment or the home directory.
	conf.Vault.RenewToken = ctconfig.Bool(false)
	conf.Vault.UnwrapToken = ctconfig.Bool(false)
	conf.Vault.K8SAuthRoleName = ctconfig.String("")
	conf.Vault.K8SServiceAccountToken = ctconfig.String("")
	conf.Vault.K8SServiceAccountTokenPath = ctconfig.String("")
	conf.Vault.K8SServiceMountPath = ctconfig.String("")
	tls := strings.HasPrefix(v.Address, "https") || v.CACert != "" || v.CAPath != ""
	conf.Vault.SSL = &ctconfig.SSLConfig{
		Enabled:     ctconfig.Bool(tls),
		Verify:      ctconfig.Bool(!v.TLSSkipVerify),
		Cert:        ctconfig.String(v.ClientCert),
		Key:         ctconfig.String(v.ClientKey),
		CaCert:      ctconfig.String(v.CACert),
		CaCertBytes: ctconfig.String(""),
		CaPath:      ctconfig.String(v.CAPath),
		ServerName:  ctconfig.String(v.TLSServerName),
	}
	conf.Vault.Retry = &ctconfig.RetryConfig{
		Enabled:    ctconfig.Bool(true),
		Attempts:   ctconfig.Int(e.retry.Attempts),
		Backoff:    ctconfig.TimeDuration(e.retry.Backoff),
		MaxBackoff: ctconfig.TimeDuration(e.retry.MaxBackoff),
	}
	interval := e.staticInterval
	if interval <= 0 {
		interval = ctconfig.DefaultVaultLeaseDuration
	}
	conf.Vault.DefaultLeaseDuration = ctconfig.TimeDuration(interval)
	// consul-template copies this into a package variable only for the first runner of the
	// process (sync.Once); set it for ours, before the runner's views exist.
	dep.VaultDefaultLeaseDuration = interval
	conf.Finalize()
	return conf
}

// run renders until ctx ends (or, in once mode, until every template has rendered). It
// takes its first token, and every later one, from tokens.
func (e *engine) run(ctx context.Context, tokens <-chan string) error {
	var token string
	select {
	case token = <-tokens:
	case <-ctx.Done():
		return nil
	}
	ready := false
	for {
		r, err := manager.NewRunner(e.runnerConfig(token), false)
		if err != nil {
			return fmt.Errorf("%w: template runner: %v", ErrRender, oneLine(err))
		}
		ids := len(r.TemplateConfigMapping())
		go r.Start()
		next, err := e.supervise(ctx, r, ids, &ready, tokens, &token)
		if err != nil || !next {
			return err
		}
	}
}

// supervise watches one runner. It returns next=true when a new runner must start.
func (e *engine) supervise(ctx context.Context, r *manager.Runner, ids int, ready *bool,
	tokens <-chan string, token *string) (next bool, err error) {
	afterPass := func() error {
		cmdErr := e.sink.runCommands(ctx)
		if !*ready && allRendered(r, ids) {
			*ready = true
			e.log.Info("all templates rendered", "templates", len(e.templates))
			if e.onReady != nil {
				e.onReady()
			}
		}
		return cmdErr
	}
	for {
		select {
		case <-ctx.Done():
			stopRunner(r)
			return false, nil

		case t := <-tokens:
			if t == *token {
				continue
			}
			*token = t
			if e.once && *ready {
				continue
			}
			e.log.Info("restarting the template runner with the new token")
			stopRunner(r)
			return true, nil

		case err := <-r.ErrCh:
			stopRunner(r)
			if e.once || (e.failBeforeReady && !*ready) {
				return false, fmt.Errorf("%w: %v", ErrRender, oneLine(err))
			}
			e.log.Error("template runner failed, restarting it", "error", oneLine(err), "backoff", e.restartBackoff.String())
			if e.onError != nil {
				e.onError(err)
			}
			t := time.NewTimer(e.restartBackoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, nil
			case <-t.C:
			}
			// Restart with the newest token, if a new one came meanwhile.
			select {
			case t := <-tokens:
				*token = t
			default:
			}
			return true, nil

		case <-r.TemplateRenderedCh():
			err := afterPass()
			if e.once && (err != nil || *ready) {
				stopRunner(r)
				return false, err
			}

		case <-r.DoneCh:
			// The runner stopped on its own (it does not, outside consul-template's once
			// mode): start another one, or fail an init run.
			if e.once {
				return false, fmt.Errorf("%w: the runner stopped before every template rendered", ErrRender)
			}
			return true, nil
		}
	}
}

// allRendered reports whether every template of r has rendered (or found its file already
// up to date) at least once.
func allRendered(r *manager.Runner, ids int) bool {
	events := r.RenderEvents()
	if len(events) < ids {
		return false
	}
	for _, ev := range events {
		if ev.LastWouldRender.IsZero() {
			return false
		}
	}
	return true
}

// stopRunner stops r without waiting on a goroutine that may still be reporting an error
// on the runner's unbuffered ErrCh.
func stopRunner(r *manager.Runner) {
	r.StopImmediately()
	go func() {
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-r.ErrCh:
		case <-t.C:
		}
	}()
}

// latest is a one-slot channel where a newer token replaces one not yet taken.
type latest chan string

func (l latest) put(tok string) {
	for {
		select {
		case l <- tok:
			return
		default:
			select {
			case <-l:
			default:
			}
		}
	}
}
