package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
	"github.com/vaultkube/vaultkube/internal/vaultclient"
)

// ErrLogin marks a failed login, after its retries.
var ErrLogin = errors.New("vault login failed")

// newVaultClient builds the Vault API client from the config: address, namespace, TLS,
// proxy, retries and timeout, and nothing from VAULT_* environment variables (in env mode
// the agent runs with the app's environment). It holds no token; login sets none on it.
func newVaultClient(v agentconfig.Vault) (*api.Client, error) {
	o := vaultclient.Options{
		Address:   v.Address,
		Namespace: v.Namespace,
		TLS: vaultclient.TLS{
			CACert: v.CACert, CAPath: v.CAPath, ClientCert: v.ClientCert, ClientKey: v.ClientKey,
			ServerName: v.TLSServerName, SkipVerify: v.TLSSkipVerify,
		},
		MaxRetries:   v.ClientMaxRetries,
		ProxyAddress: v.ProxyAddress,
	}
	if v.ClientTimeout != "" {
		d, err := time.ParseDuration(v.ClientTimeout)
		if err != nil {
			return nil, fmt.Errorf("agent config: vault.clientTimeout %q: %w", v.ClientTimeout, err)
		}
		o.Timeout = d
	}
	return vaultclient.New(o)
}

// authParams resolves role and token file from the config and its auth-config-* extras
// (vault-k8s passes them to vault agent's auto_auth method config: role, token_path for
// kubernetes, path for jwt).
func authParams(a agentconfig.Auth, log *slog.Logger) (role, tokenPath string) {
	role, tokenPath = a.Role, a.TokenPath
	for k, v := range a.Config {
		switch k {
		case "role":
			role = v
		case "token_path", "path":
			tokenPath = v
		default:
			log.Warn("auth config key is not supported and is ignored", "key", k)
		}
	}
	if tokenPath == "" && (a.Type == "" || a.Type == "kubernetes") {
		tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	}
	return role, tokenPath
}

// login performs one login attempt with the configured method. The client must carry no
// token (login requests are unauthenticated).
func login(ctx context.Context, c *api.Client, a agentconfig.Auth, log *slog.Logger) (*api.Secret, error) {
	role, tokenPath := authParams(a, log)
	switch a.Type {
	case "", "kubernetes", "jwt":
		typ := a.Type
		if typ == "" {
			typ = "kubernetes"
		}
		raw, err := os.ReadFile(tokenPath)
		if err != nil {
			return nil, fmt.Errorf("read %s token: %w", typ, err)
		}
		jwt := strings.TrimSpace(string(raw))
		if jwt == "" {
			return nil, fmt.Errorf("%s token file %s is empty", typ, tokenPath)
		}
		return vaultclient.LoginJWT(ctx, c, vaultclient.AuthMount(a.Path, typ), role, jwt)
	case "token":
		// A Vault token in a file: for tests, benchmarks and setups that hand the agent one.
		raw, err := os.ReadFile(tokenPath)
		if err != nil {
			return nil, fmt.Errorf("read vault token: %w", err)
		}
		tok := strings.TrimSpace(string(raw))
		tc, err := vaultclient.WithToken(c, tok)
		if err != nil {
			return nil, err
		}
		s, err := tc.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("look up the token from %s: %w", tokenPath, err)
		}
		ttl, _ := s.TokenTTL()
		renewable, _ := s.TokenIsRenewable()
		return &api.Secret{Auth: &api.SecretAuth{
			ClientToken: tok, LeaseDuration: int(ttl.Seconds()), Renewable: renewable,
		}}, nil
	default:
		return nil, fmt.Errorf("agent config: auth.type %q is not one of kubernetes, jwt, token", a.Type)
	}
}

// RetryPolicy is an exponential backoff from Backoff to MaxBackoff; Attempts 0 means
// until the context ends.
type RetryPolicy struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

func (p RetryPolicy) wait(ctx context.Context, attempt int) error {
	d := p.Backoff << min(attempt, 20)
	if d > p.MaxBackoff || d <= 0 {
		d = p.MaxBackoff
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// loginWithRetry logs in, retrying with exponential backoff per policy.
func loginWithRetry(ctx context.Context, c *api.Client, a agentconfig.Auth, p RetryPolicy, log *slog.Logger) (*api.Secret, error) {
	mount := vaultclient.AuthMount(a.Path, authType(a))
	for attempt := 0; ; attempt++ {
		s, err := login(ctx, c, a, log)
		if err == nil {
			ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
			log.Info("logged in to vault", "method", authType(a), "mount", mount, "role", a.Role,
				"ttl", ttl.String(), "renewable", s.Auth.Renewable, "policies", s.Auth.Policies)
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if p.Attempts > 0 && attempt+1 >= p.Attempts {
			return nil, fmt.Errorf("%w after %d attempts (method %s, mount %s, role %q): %s",
				ErrLogin, attempt+1, authType(a), mount, a.Role, oneLine(err))
		}
		log.Warn("vault login failed, retrying", "method", authType(a), "mount", mount, "role", a.Role,
			"attempt", attempt+1, "error", oneLine(err))
		if err := p.wait(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

func authType(a agentconfig.Auth) string {
	if a.Type == "" {
		return "kubernetes"
	}
	return a.Type
}

// errTokenRejected: Vault refused the token (revoked or expired behind the agent's back).
var errTokenRejected = errors.New("vault rejected the token")

// keepToken renews the token of secret with vault/api's lifetime watcher and logs in
// again when renewal fails, when the token reaches its max TTL, or when rejected tells
// that Vault refused it; onToken receives each new token. It returns when ctx ends.
func keepToken(ctx context.Context, c *api.Client, a agentconfig.Auth, secret *api.Secret, p RetryPolicy,
	log *slog.Logger, rejected <-chan struct{}, onToken func(string)) {
	for {
		started := time.Now()
		if err := watchToken(ctx, c, secret, log, rejected); err != nil {
			log.Warn("token renewal failed, logging in again", "error", oneLine(err))
		} else if ctx.Err() == nil {
			log.Info("token reached the end of its lifetime, logging in again")
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) < p.Backoff {
			// A token too short-lived to renew: do not spin.
			if err := p.wait(ctx, 0); err != nil {
				return
			}
		}
		// Keep trying: a sidecar outlives Vault outages.
		var err error
		secret, err = loginWithRetry(ctx, c, a, RetryPolicy{Backoff: p.Backoff, MaxBackoff: p.MaxBackoff}, log)
		if err != nil {
			return // only the end of ctx stops an unbounded retry
		}
		onToken(secret.Auth.ClientToken)
	}
}

// watchToken renews the token until renewal fails (an error) or the token nears the end
// of its lifetime (nil). A token that is not renewable is used for 80% of its TTL.
func watchToken(ctx context.Context, c *api.Client, secret *api.Secret, log *slog.Logger, rejected <-chan struct{}) error {
	ttl := time.Duration(secret.Auth.LeaseDuration) * time.Second
	var timeout <-chan time.Time
	switch {
	case ttl == 0:
		// A token without TTL (root, or a periodic token handed in) never expires.
	case !secret.Auth.Renewable:
		t := time.NewTimer(ttl * 4 / 5)
		defer t.Stop()
		timeout = t.C
	default:
		w, err := c.NewLifetimeWatcher(&api.LifetimeWatcherInput{
			Secret: secret, RenewBehavior: api.RenewBehaviorErrorOnErrors,
		})
		if err != nil {
			return err
		}
		go w.Start()
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-rejected:
				return errTokenRejected
			case err := <-w.DoneCh():
				return err
			case r := <-w.RenewCh():
				ttl := time.Duration(0)
				if r.Secret != nil && r.Secret.Auth != nil {
					ttl = time.Duration(r.Secret.Auth.LeaseDuration) * time.Second
				}
				log.Debug("token renewed", "ttl", ttl.String())
			}
		}
	}
	select {
	case <-ctx.Done():
		return nil
	case <-rejected:
		return errTokenRejected
	case <-timeout:
		return nil
	}
}

// tokenRejected reports whether err from a Vault read is a 403 and Vault no longer
// accepts tok itself (as opposed to a policy that does not allow the path).
func tokenRejected(c *api.Client, tok string, err error) bool {
	if err == nil || !(strings.Contains(err.Error(), "Code: 403") || strings.Contains(err.Error(), "permission denied")) {
		return false
	}
	tc, cerr := vaultclient.WithToken(c, tok)
	if cerr != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, lerr := tc.Auth().Token().LookupSelfWithContext(ctx)
	var re *api.ResponseError
	return errors.As(lerr, &re) && re.StatusCode == 403
}

// revokeToken revokes tok (revoke-self), bounded in time.
func revokeToken(c *api.Client, tok string, log *slog.Logger) {
	tc, err := vaultclient.WithToken(c, tok)
	if err != nil {
		log.Warn("token revocation failed", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tc.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		log.Warn("token revocation failed", "error", err)
		return
	}
	log.Info("token revoked")
}
