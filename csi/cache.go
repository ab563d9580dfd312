package csi

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultkube/vaultkube/internal/vaultclient"
)

// clientKey identifies a Vault client: one per address, namespace and TLS settings, so that
// connections are reused across mounts.
type clientKey struct {
	address, namespace string
	tls                TLSParams
	timeout            time.Duration
}

type clientCache struct {
	mu  sync.Mutex
	max int
	m   map[clientKey]*api.Client
}

func newClientCache(max int) *clientCache {
	return &clientCache{max: max, m: map[clientKey]*api.Client{}}
}

func (c *clientCache) get(k clientKey) (*api.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.m[k]; ok {
		return cl, nil
	}
	retries := 1
	cl, err := vaultclient.New(vaultclient.Options{
		Address: k.address, Namespace: k.namespace, Timeout: k.timeout, MaxRetries: &retries,
		MaxIdleConnsPerHost: 32,
		TLS: vaultclient.TLS{
			CACert: k.tls.CACert, CAPath: k.tls.CADirectory, ServerName: k.tls.ServerName,
			ClientCert: k.tls.ClientCert, ClientKey: k.tls.ClientKey, SkipVerify: k.tls.SkipVerify,
		},
	})
	if err != nil {
		return nil, err
	}
	if len(c.m) >= c.max {
		clear(c.m) // many distinct Vaults: start over rather than grow
	}
	c.m[k] = cl
	return cl, nil
}

// tokenKey identifies a pod's login: a token is never shared between pods, roles, Vaults
// or auth mounts.
type tokenKey struct {
	podUID, serviceAccount, role, address, namespace, mount string
}

type tokenEntry struct {
	mu      sync.Mutex // held during a login: one login per key at a time
	token   string
	expires time.Time
	used    time.Time
}

// tokenCache keeps each pod's Vault token until it nears the end of its TTL.
type tokenCache struct {
	mu  sync.Mutex
	max int
	m   map[tokenKey]*tokenEntry
	now func() time.Time
}

func newTokenCache(max int, now func() time.Time) *tokenCache {
	return &tokenCache{max: max, m: map[tokenKey]*tokenEntry{}, now: now}
}

// loginFunc logs in and returns the token, its TTL (0: none) and whether it is renewable.
type loginFunc func(ctx context.Context) (token string, ttl time.Duration, renewable bool, err error)

// get returns the cached token of k, or logs in with login. fresh drops the cached token.
func (c *tokenCache) get(ctx context.Context, k tokenKey, fresh bool, login loginFunc) (string, error) {
	c.mu.Lock()
	e, ok := c.m[k]
	if !ok {
		c.evictLocked()
		e = &tokenEntry{}
		c.m[k] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := c.now()
	if fresh {
		e.token = ""
	}
	if e.token != "" && now.Before(e.expires) {
		e.used = now
		return e.token, nil
	}
	tok, ttl, _, err := login(ctx)
	if err != nil {
		e.token = ""
		return "", err
	}
	if ttl <= 0 {
		ttl = time.Hour // a token without TTL: log in again hourly anyway
	}
	// Use it for 80% of its TTL: the next mount after that logs in again, before Vault
	// would refuse it.
	e.token, e.expires, e.used = tok, now.Add(ttl*4/5), now
	return tok, nil
}

// evictLocked drops expired entries, and when still full the least recently used one.
func (c *tokenCache) evictLocked() {
	if len(c.m) < c.max {
		return
	}
	now := c.now()
	var oldestK tokenKey
	var oldest time.Time
	for k, e := range c.m {
		if !e.mu.TryLock() {
			continue
		}
		expired := e.token == "" || !now.Before(e.expires)
		used := e.used
		e.mu.Unlock()
		if expired {
			delete(c.m, k)
			continue
		}
		if oldest.IsZero() || used.Before(oldest) {
			oldestK, oldest = k, used
		}
	}
	if len(c.m) >= c.max && !oldest.IsZero() {
		delete(c.m, oldestK)
	}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// leaseKey identifies an answer given to one pod's login for one request.
type leaseKey struct {
	token   tokenKey
	request string
}

type leaseEntry struct {
	secret  *api.Secret
	expires time.Time
}

// leaseCache keeps leased answers (dynamic credentials, certificates) so that a rotation
// poll gives the pod the same credentials instead of new ones each time.
type leaseCache struct {
	mu  sync.Mutex
	max int
	m   map[leaseKey]leaseEntry
	now func() time.Time
}

func newLeaseCache(max int, now func() time.Time) *leaseCache {
	return &leaseCache{max: max, m: map[leaseKey]leaseEntry{}, now: now}
}

func (c *leaseCache) get(k leaseKey) (*api.Secret, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.m, k)
		return nil, false
	}
	return e.secret, true
}

func (c *leaseCache) put(k leaseKey, s *api.Secret, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.m) >= c.max {
		var soonest leaseKey
		var at time.Time
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
				continue
			}
			if at.IsZero() || e.expires.Before(at) {
				soonest, at = k, e.expires
			}
		}
		if len(c.m) >= c.max {
			delete(c.m, soonest)
		}
	}
	c.m[k] = leaseEntry{secret: s, expires: now.Add(ttl)}
}
