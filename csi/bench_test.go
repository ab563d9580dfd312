package csi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchVault is a minimal Vault for the benchmarks: JWT/Kubernetes login and KV v2 reads
// of secret/data/bench/*, answered from bodies encoded once.
type benchVault struct {
	*httptest.Server
	logins, reads atomic.Int64
}

func newBenchVault(b *testing.B, secrets int) *benchVault {
	b.Helper()
	bodies := map[string][]byte{}
	for i := range secrets {
		body, _ := json.Marshal(map[string]any{"request_id": "r", "data": map[string]any{
			"data":     map[string]any{"username": fmt.Sprintf("user-%d", i), "password": fmt.Sprintf("bench-s3cr3t-%d", i)},
			"metadata": map[string]any{"version": 1},
		}})
		bodies[fmt.Sprintf("secret/data/bench/s%d", i)] = body
	}
	login, _ := json.Marshal(map[string]any{"auth": map[string]any{"client_token": "hvs.bench", "lease_duration": 3600, "renewable": true}})
	v := &benchVault{}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/v1/")
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(p, "/login") {
			v.logins.Add(1)
			_, _ = w.Write(login)
			return
		}
		if r.Header.Get("X-Vault-Token") != "hvs.bench" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		body, ok := bodies[p]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[]}`))
			return
		}
		v.reads.Add(1)
		_, _ = w.Write(body)
	}))
	b.Cleanup(v.Close)
	return v
}

// benchAttributes are mount attributes as the driver sends them for a pod, with n objects
// of one secret each.
func benchAttributes(addr, podUID string, n int) string {
	var objs strings.Builder
	for i := range n {
		fmt.Fprintf(&objs, "- objectName: s%d\n  secretPath: secret/data/bench/s%d\n  secretKey: password\n", i, i)
	}
	toks, _ := json.Marshal(map[string]any{"vault": map[string]any{
		"token": "header.payload-of-" + podUID + ".signature", "expirationTimestamp": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}})
	b, _ := json.Marshal(map[string]string{
		"roleName":                     "bench",
		"vaultAddress":                 addr,
		"vaultAuthMountPath":           "jwt",
		"audience":                     "vault",
		"objects":                      objs.String(),
		"secretProviderClass":          "bench",
		"csi.storage.k8s.io/ephemeral": "false",
		attrPodName:                    "pod-" + podUID,
		attrPodNamespace:               "bench",
		attrPodUID:                     podUID,
		attrServiceAccount:             "app",
		attrTokens:                     string(toks),
	})
	return string(b)
}

// BenchmarkMountWarm10 is a rotation poll of a pod with 10 objects: the token is cached,
// the 10 KV reads go to Vault in parallel (here a local fake, so this is the provider's
// own cost plus loopback HTTP).
func BenchmarkMountWarm10(b *testing.B) {
	v := newBenchVault(b, 10)
	p, err := NewProvider(Options{VersionKey: []byte("bench")})
	if err != nil {
		b.Fatal(err)
	}
	attributes := benchAttributes(v.URL, "uid-warm", 10)
	ctx := context.Background()
	if _, err := p.Mount(ctx, attributes, `"420"`); err != nil { // the login
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := p.Mount(ctx, attributes, `"420"`)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Files) != 10 {
			b.Fatalf("%d files, want 10", len(res.Files))
		}
	}
	b.StopTimer()
	if n := v.logins.Load(); n != 1 {
		b.Fatalf("%d logins, want 1 (the token is cached)", n)
	}
}

// BenchmarkParseRequest is the validation of a 10-object mount request: the attributes'
// JSON, the token for the audience and the objects' YAML.
func BenchmarkParseRequest(b *testing.B) {
	attributes := benchAttributes("https://vault.vault.svc:8200", "uid-parse", 10)
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseRequest(attributes, `"420"`, Defaults{})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Objects) != 10 {
			b.Fatalf("%d objects", len(r.Objects))
		}
	}
}
