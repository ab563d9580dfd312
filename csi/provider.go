package csi

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vaultkube/vaultkube/internal/vaultclient"
)

// MaxResponseBytes is the driver's default gRPC receive limit: a mount whose files add up
// to more is refused here, with a message, rather than failing in the driver.
const MaxResponseBytes = 4 << 20

// File is one file of a mount.
type File struct {
	Path     string
	Mode     int32
	Contents []byte
}

// Version is an object's id and version as the driver records them.
type Version struct {
	ID      string
	Version string
}

// Result is what a mount returns.
type Result struct {
	Files    []File
	Versions []Version
}

// Error kinds, the label values of the errors metric.
const (
	KindParameters = "parameters"
	KindLogin      = "login"
	KindRead       = "read"
	KindTemplate   = "template"
	KindSize       = "size"
	KindContent    = "content"
)

// MountError carries the kind of a failed mount for the metrics and the driver's error code.
type MountError struct {
	Kind string
	Err  error
}

func (e *MountError) Error() string { return e.Err.Error() }
func (e *MountError) Unwrap() error { return e.Err }

func kindErr(kind string, err error) error { return &MountError{Kind: kind, Err: err} }

// ErrorKind returns the kind of err, "internal" when it has none.
func ErrorKind(err error) string {
	var me *MountError
	if errors.As(err, &me) {
		return me.Kind
	}
	var pe *ParamError
	if errors.As(err, &pe) {
		return KindParameters
	}
	return "internal"
}

// Options tune a Provider.
type Options struct {
	Defaults Defaults
	// ReadConcurrency bounds the parallel Vault reads of one mount.
	ReadConcurrency int
	// VersionKey keys the object versions' hash; random when nil, so versions of unchanged
	// content are stable for the life of the process and reveal nothing of the content.
	VersionKey []byte
	// RequestTimeout bounds each Vault request.
	RequestTimeout time.Duration
	Log            *slog.Logger
	Metrics        *Metrics
	// Now is the clock (tests).
	Now func() time.Time
}

// Provider mounts Vault secrets. It is safe for concurrent use.
type Provider struct {
	opt     Options
	clients *clientCache
	tokens  *tokenCache
	leases  *leaseCache
	log     *slog.Logger
	m       *Metrics
	now     func() time.Time
}

// NewProvider returns a Provider.
func NewProvider(o Options) (*Provider, error) {
	if o.ReadConcurrency <= 0 {
		o.ReadConcurrency = 8
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.VersionKey == nil {
		o.VersionKey = make([]byte, 32)
		if _, err := rand.Read(o.VersionKey); err != nil {
			return nil, err
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Provider{
		opt: o, clients: newClientCache(64), tokens: newTokenCache(4096, o.Now), leases: newLeaseCache(16384, o.Now),
		log: o.Log, m: o.Metrics, now: o.Now,
	}, nil
}

// Mount parses the request, logs in as the pod (or reuses its token), reads every object
// and returns the files. On any error nothing is returned, so the driver writes nothing.
func (p *Provider) Mount(ctx context.Context, attributes, permission string) (*Result, error) {
	start := p.now()
	res, err := p.mount(ctx, attributes, permission)
	p.m.MountSeconds.Observe(p.now().Sub(start).Seconds())
	if err != nil {
		p.m.Mounts.Inc("error")
		p.m.Errors.Inc(ErrorKind(err))
		return nil, err
	}
	p.m.Mounts.Inc("ok")
	return res, nil
}

func (p *Provider) mount(ctx context.Context, attributes, permission string) (*Result, error) {
	req, err := ParseRequest(attributes, permission, p.opt.Defaults)
	if err != nil {
		return nil, err
	}
	log := p.log.With("pod", req.PodNamespace+"/"+req.PodName, "role", req.Role, "vault", req.VaultAddress)
	c, err := p.clients.get(clientKey{
		address: req.VaultAddress, namespace: req.VaultNamespace, tls: req.TLS, timeout: p.opt.RequestTimeout,
	})
	if err != nil {
		return nil, kindErr(KindParameters, fmt.Errorf("vault client for %s: %w", req.VaultAddress, err))
	}
	tk := tokenKey{podUID: req.PodUID, serviceAccount: req.ServiceAccount, role: req.Role, address: req.VaultAddress,
		namespace: req.VaultNamespace, mount: req.AuthMount}
	sess := &session{p: p, req: req, client: c, tk: tk, log: log}

	// Every distinct request once, in parallel.
	byKey := map[string]*fetch{}
	var order []*fetch
	for i := range req.Objects {
		o := &req.Objects[i]
		if o.Template != "" {
			continue
		}
		if f, ok := byKey[o.requestKey]; ok {
			f.objects = append(f.objects, o)
			continue
		}
		f := &fetch{obj: o, objects: []*Object{o}}
		byKey[o.requestKey] = f
		order = append(order, f)
	}
	if err := sess.fetchAll(ctx, order); err != nil {
		return nil, err
	}

	res := &Result{}
	total := 0
	add := func(path string, mode uint32, content []byte, id string) {
		res.Files = append(res.Files, File{Path: path, Mode: int32(mode), Contents: content})
		res.Versions = append(res.Versions, Version{ID: id, Version: p.version(path, content)})
		total += len(content) + len(path)
	}
	for _, f := range order {
		for _, o := range f.objects {
			mode := req.DefaultMode
			if o.HasMode {
				mode = o.Mode
			}
			if o.AllKeys {
				files, err := allKeys(o, f.secret)
				if err != nil {
					return nil, err
				}
				for _, kf := range files {
					add(o.Name+"/"+kf.name, uint32(mode), kf.content, o.Name+"/"+kf.name)
				}
				continue
			}
			content, err := objectContent(o, f.secret)
			if err != nil {
				return nil, err
			}
			add(o.Name, uint32(mode), content, o.Name)
		}
	}
	for i := range req.Objects {
		o := &req.Objects[i]
		if o.Template == "" {
			continue
		}
		out, err := sess.render(ctx, o)
		if err != nil {
			return nil, err
		}
		mode := req.DefaultMode
		if o.HasMode {
			mode = o.Mode
		}
		add(o.Name, uint32(mode), out, o.Name)
	}
	if total > MaxResponseBytes {
		return nil, kindErr(KindSize, fmt.Errorf("the mount's files add up to %d bytes, more than the driver's %d-byte limit: split the SecretProviderClass", total, MaxResponseBytes))
	}
	// Files in objectName order: the same mount gives the same answer.
	sort.SliceStable(res.Files, func(i, j int) bool { return res.Files[i].Path < res.Files[j].Path })
	sort.SliceStable(res.Versions, func(i, j int) bool { return res.Versions[i].ID < res.Versions[j].ID })
	log.Debug("mounted", "objects", len(req.Objects), "files", len(res.Files))
	return res, nil
}

// version is a keyed hash of an object's path and content: stable while the content is,
// and it reveals nothing about a secret of few possible values.
func (p *Provider) version(path string, content []byte) string {
	h := hmac.New(sha256.New, p.opt.VersionKey)
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(content)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:18])
}

// fetch is one Vault request and the objects that use its answer.
type fetch struct {
	obj     *Object
	objects []*Object
	secret  *api.Secret
}

// session is one mount's Vault access: the client and the pod's token.
type session struct {
	p      *Provider
	req    *Request
	client *api.Client
	tk     tokenKey
	log    *slog.Logger

	mu    sync.Mutex
	token string
}

// tokenFor returns the pod's Vault token, from the cache or a new login. fresh forces a
// login (the cached token was refused).
func (s *session) tokenFor(ctx context.Context, fresh bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && !fresh {
		return s.token, nil
	}
	tok, err := s.p.tokens.get(ctx, s.tk, fresh, func(ctx context.Context) (string, time.Duration, bool, error) {
		s.p.m.Logins.Inc()
		lc, cancel := context.WithTimeout(ctx, s.p.opt.RequestTimeout)
		defer cancel()
		sec, err := vaultclient.LoginJWT(lc, s.client, vaultclient.AuthMount(s.req.AuthMount, "kubernetes"), s.req.Role, s.req.JWT)
		if err != nil {
			s.p.m.LoginErrors.Inc()
			return "", 0, false, err
		}
		ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
		s.log.Info("logged in to vault", "mount", vaultclient.AuthMount(s.req.AuthMount, "kubernetes"), "ttl", ttl.String())
		return sec.Auth.ClientToken, ttl, sec.Auth.Renewable, nil
	})
	if err != nil {
		return "", kindErr(KindLogin, fmt.Errorf("log in to %s at %s as role %q (service account %s/%s): %s",
			s.req.VaultAddress, vaultclient.AuthMount(s.req.AuthMount, "kubernetes"), s.req.Role, s.req.PodNamespace, s.req.ServiceAccount, oneLine(err.Error())))
	}
	s.token = tok
	return tok, nil
}

func (s *session) fetchAll(ctx context.Context, fs []*fetch) error {
	if len(fs) == 0 {
		return nil
	}
	if _, err := s.tokenFor(ctx, false); err != nil {
		return err
	}
	sem := make(chan struct{}, s.p.opt.ReadConcurrency)
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = s.fetchOne(ctx, f)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fetchOne reads (or writes) f's request, from the lease cache when a leased answer for
// this pod and request is still fresh.
func (s *session) fetchOne(ctx context.Context, f *fetch) error {
	lk := leaseKey{token: s.tk, request: f.obj.requestKey}
	if sec, ok := s.p.leases.get(lk); ok {
		s.p.m.CacheHits.Inc("lease")
		f.secret = sec
		return nil
	}
	for attempt := 0; ; attempt++ {
		tok, err := s.tokenFor(ctx, attempt > 0)
		if err != nil {
			return err
		}
		sec, err := s.do(ctx, tok, f.obj)
		if err != nil && attempt == 0 && isForbidden(err) {
			// A cached token Vault no longer takes (revoked, or the role changed): once more
			// with a new login.
			s.log.Info("vault refused the cached token, logging in again", "object", f.obj.Name)
			continue
		}
		if err != nil {
			return kindErr(KindRead, fmt.Errorf("object %s: %s %s: %s", f.obj.Name, f.obj.Method, f.obj.Path, oneLine(err.Error())))
		}
		if sec == nil {
			return kindErr(KindRead, fmt.Errorf("object %s: secretPath %s: Vault has no secret at this path", f.obj.Name, f.obj.Path))
		}
		f.secret = sec
		if ttl := cacheTTL(sec, f.obj.Method, s.p.now()); ttl > 0 {
			s.p.leases.put(lk, sec, ttl)
		}
		return nil
	}
}

func (s *session) do(ctx context.Context, tok string, o *Object) (*api.Secret, error) {
	s.p.m.Reads.Inc()
	c, err := vaultclient.WithToken(s.client, tok)
	if err != nil {
		return nil, err
	}
	rc, cancel := context.WithTimeout(ctx, s.p.opt.RequestTimeout)
	defer cancel()
	if o.Method == "PUT" {
		args := o.Args
		if args == nil {
			args = map[string]any{}
		}
		return c.Logical().WriteWithContext(rc, o.Path, args)
	}
	if len(o.Query) > 0 {
		return c.Logical().ReadWithDataWithContext(rc, o.Path, o.Query)
	}
	return c.Logical().ReadWithContext(rc, o.Path)
}

func isForbidden(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// cacheTTL says how long an answer may be given again to the same pod: a leased secret
// (database credentials) until two thirds of its lease, a PUT answer with an expiration
// (a PKI certificate) until two thirds of its life; anything else is read on every mount,
// so that a KV change shows up at the next rotation poll.
func cacheTTL(s *api.Secret, method string, now time.Time) time.Duration {
	if s.LeaseID != "" && s.LeaseDuration > 0 {
		return time.Duration(s.LeaseDuration) * time.Second * 2 / 3
	}
	if method == "PUT" && s.Data != nil {
		var exp int64
		switch v := s.Data["expiration"].(type) {
		case json.Number:
			exp, _ = v.Int64()
		case float64:
			exp = int64(v)
		case int64:
			exp = v
		}
		if exp > 0 {
			if left := time.Unix(exp, 0).Sub(now); left > 0 {
				return left * 2 / 3
			}
		}
	}
	return 0
}

// objectContent is the file of o from its secret: the key's value (strings raw, other
// values as JSON), or the whole response as JSON; decoded per o.Encoding.
func objectContent(o *Object, s *api.Secret) ([]byte, error) {
	var raw []byte
	if o.Key == "" {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, kindErr(KindContent, fmt.Errorf("object %s: encode the response: %w", o.Name, err))
		}
		raw = b
	} else {
		v, ok := lookupKey(s.Data, o.Key)
		if !ok {
			return nil, kindErr(KindContent, fmt.Errorf("object %s: secretKey %q is not in the data at %s (keys: %s)",
				o.Name, o.Key, o.Path, strings.Join(dataKeys(s.Data), ", ")))
		}
		b, err := valueBytes(v)
		if err != nil {
			return nil, kindErr(KindContent, fmt.Errorf("object %s: secretKey %q: %w", o.Name, o.Key, err))
		}
		raw = b
	}
	return decode(o, raw)
}

// lookupKey finds key in a secret's data, and for KV v2 answers in data.data.
func lookupKey(data map[string]any, key string) (any, bool) {
	if v, ok := data[key]; ok {
		return v, true
	}
	if inner, ok := kv2Data(data); ok {
		v, ok := inner[key]
		return v, ok
	}
	return nil, false
}

// kv2Data returns data.data of a KV v2 answer ({data: {...}, metadata: {...}}).
func kv2Data(data map[string]any) (map[string]any, bool) {
	inner, ok := data["data"].(map[string]any)
	if !ok {
		return nil, false
	}
	if _, ok := data["metadata"]; !ok {
		return nil, false
	}
	return inner, true
}

func dataKeys(data map[string]any) []string {
	m := data
	if inner, ok := kv2Data(data); ok {
		m = inner
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func valueBytes(v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return []byte(s), nil
	}
	return json.Marshal(v)
}

func decode(o *Object, raw []byte) ([]byte, error) {
	switch o.Encoding {
	case "base64":
		s := strings.TrimSpace(string(raw))
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
				return b2, nil
			}
			return nil, kindErr(KindContent, fmt.Errorf("object %s: encoding base64: the value is not base64: %v", o.Name, err))
		}
		return b, nil
	case "hex":
		b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, kindErr(KindContent, fmt.Errorf("object %s: encoding hex: the value is not hex: %v", o.Name, err))
		}
		return b, nil
	}
	return raw, nil
}

type keyFile struct {
	name    string
	content []byte
}

// allKeys expands o into one file per key of the secret's data (data.data for KV v2).
func allKeys(o *Object, s *api.Secret) ([]keyFile, error) {
	m := s.Data
	if inner, ok := kv2Data(s.Data); ok {
		m = inner
	}
	if len(m) == 0 {
		return nil, kindErr(KindContent, fmt.Errorf("object %s: %s: the secret at %s has no keys", o.Name, ExtAllKeys, o.Path))
	}
	out := make([]keyFile, 0, len(m))
	for _, k := range dataKeys(s.Data) {
		if err := checkFileName(k); err != nil || strings.Contains(k, "/") {
			return nil, kindErr(KindContent, fmt.Errorf("object %s: %s: key %q cannot be a file name", o.Name, ExtAllKeys, k))
		}
		b, err := valueBytes(m[k])
		if err != nil {
			return nil, kindErr(KindContent, fmt.Errorf("object %s: key %q: %w", o.Name, k, err))
		}
		b, err = decode(o, b)
		if err != nil {
			return nil, err
		}
		out = append(out, keyFile{name: k, content: b})
	}
	return out, nil
}
