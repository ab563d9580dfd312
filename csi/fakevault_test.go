package csi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeVault answers the few Vault endpoints the provider uses, and counts the requests.
type fakeVault struct {
	*httptest.Server
	logins, reads, issues, creds atomic.Int64
	mu                           sync.Mutex
	kv                           map[string]map[string]any // KV v2 path -> data
	revoked                      map[string]bool
	tokenSeq                     atomic.Int64
	lastJWT                      string
	loginTTL                     int
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{
		kv: map[string]map[string]any{
			"secret/data/app": {"user": "app-user", "password": "s3cr3t", "port": 5432, "b64": "aGVsbG8=", "hex": "68656c6c6f"},
		},
		revoked:  map[string]bool{},
		loginTTL: 3600,
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeVault) setKV(path string, data map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv[path] = data
}

func (f *fakeVault) revoke(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[tok] = true
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	if strings.HasSuffix(p, "/login") {
		var body struct{ Role, JWT string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Role != "app" || body.JWT == "" {
			reply(w, 400, map[string]any{"errors": []string{"invalid role name \"" + body.Role + "\""}})
			return
		}
		f.logins.Add(1)
		f.mu.Lock()
		f.lastJWT = body.JWT
		f.mu.Unlock()
		tok := fmt.Sprintf("hvs.tok-%d", f.tokenSeq.Add(1))
		reply(w, 200, map[string]any{"auth": map[string]any{"client_token": tok, "lease_duration": f.loginTTL, "renewable": true}})
		return
	}
	tok := r.Header.Get("X-Vault-Token")
	f.mu.Lock()
	bad := tok == "" || f.revoked[tok]
	f.mu.Unlock()
	if bad {
		reply(w, 403, map[string]any{"errors": []string{"permission denied"}})
		return
	}
	switch {
	case strings.HasPrefix(p, "sys/internal/ui/mounts/"):
		reply(w, 200, map[string]any{"data": map[string]any{"type": "kv", "path": "secret/", "options": map[string]any{"version": "2"}}})
	case strings.HasPrefix(p, "secret/data/"):
		f.reads.Add(1)
		f.mu.Lock()
		d, ok := f.kv[p]
		f.mu.Unlock()
		if !ok {
			reply(w, 404, map[string]any{"errors": []string{}})
			return
		}
		ver := 2
		if v := r.URL.Query().Get("version"); v == "1" {
			d, ver = map[string]any{"user": "old-user"}, 1
		}
		reply(w, 200, map[string]any{"request_id": "r1", "data": map[string]any{"data": d, "metadata": map[string]any{"version": ver}}})
	case p == "kv1/plain":
		f.reads.Add(1)
		reply(w, 200, map[string]any{"data": map[string]any{"k": "v", "nested": map[string]any{"a": 1}}})
	case p == "kv1/weird":
		f.reads.Add(1)
		reply(w, 200, map[string]any{"data": map[string]any{"../escape": "x"}})
	case p == "kv1/big":
		f.reads.Add(1)
		reply(w, 200, map[string]any{"data": map[string]any{"v": strings.Repeat("x", 3<<20)}})
	case strings.HasPrefix(p, "pki/issue/") && r.Method == http.MethodPut:
		n := f.issues.Add(1)
		body, _ := io.ReadAll(r.Body)
		var args map[string]any
		_ = json.Unmarshal(body, &args)
		reply(w, 200, map[string]any{"data": map[string]any{
			"certificate": fmt.Sprintf("CERT-%d-%v", n, args["common_name"]), "private_key": "KEY",
			"expiration": time.Now().Add(time.Hour).Unix(),
		}})
	case p == "database/creds/app":
		n := f.creds.Add(1)
		reply(w, 200, map[string]any{"lease_id": fmt.Sprintf("database/creds/app/lease-%d", n), "lease_duration": 600, "renewable": true,
			"data": map[string]any{"username": fmt.Sprintf("v-app-%d", n), "password": "pw"}})
	default:
		reply(w, 404, map[string]any{"errors": []string{}})
	}
}

// attrs builds mount attributes as the driver sends them.
func attrs(vaultAddr, podUID, objects string, extra map[string]string) string {
	toks, _ := json.Marshal(map[string]any{"vault": map[string]any{"token": "jwt-of-" + podUID, "expirationTimestamp": time.Now().Add(time.Hour).Format(time.RFC3339)}})
	m := map[string]string{
		"roleName":                     "app",
		"vaultAddress":                 vaultAddr,
		"audience":                     "vault",
		"objects":                      objects,
		attrPodName:                    "pod-" + podUID,
		attrPodNamespace:               "team",
		attrPodUID:                     podUID,
		attrServiceAccount:             "app",
		attrTokens:                     string(toks),
		"csi.storage.k8s.io/ephemeral": "true",
	}
	for k, v := range extra {
		if v == "" {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}
