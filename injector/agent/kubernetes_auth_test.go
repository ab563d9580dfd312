package agent

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// tokenReviewer stands in for kube-apiserver's TokenReview API only: Vault's real
// kubernetes auth method calls it to check the pod's service-account token. (The e2e
// suite covers a real apiserver.)
type tokenReviewer struct {
	valid   string // the one token it accepts
	reviews atomic.Int32
}

func (tr *tokenReviewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
		http.NotFound(w, r)
		return
	}
	tr.reviews.Add(1)
	var review struct {
		Spec struct {
			Token     string   `json:"token"`
			Audiences []string `json:"audiences"`
		} `json:"spec"`
	}
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	status := map[string]any{"authenticated": false}
	if review.Spec.Token == tr.valid {
		status = map[string]any{
			"authenticated": true,
			"user": map[string]any{
				"username": "system:serviceaccount:default:app", "uid": "0b1c2d3e-uid",
				"groups": []string{"system:serviceaccounts", "system:serviceaccounts:default"},
			},
			"audiences": review.Spec.Audiences,
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status,
	})
}

// serviceAccountJWT is shaped like a projected service-account token (the TokenReview
// vouches for it, not Vault).
func (v *testVault) serviceAccountJWT(t *testing.T) string {
	t.Helper()
	now := time.Now().Unix()
	return v.signClaims(t, map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:default:app",
		"aud": []string{"vault"}, "iat": now, "nbf": now, "exp": now + 600,
		"kubernetes.io": map[string]any{
			"namespace":      "default",
			"serviceaccount": map[string]any{"name": "app", "uid": "0b1c2d3e-uid"},
			"pod":            map[string]any{"name": "app-0", "uid": "pod-uid"},
		},
	})
}

func TestVaultKubernetesAuth(t *testing.T) {
	v := sharedVault(t)
	path := secretName(t)
	v.putKV(t, path, map[string]any{"k": "via-kubernetes-auth"})
	dir := t.TempDir()
	saToken := v.serviceAccountJWT(t)
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(saToken), 0o600))

	reviewer := &tokenReviewer{valid: saToken}
	apiserver := httptest.NewTLSServer(reviewer)
	defer apiserver.Close()
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: apiserver.Certificate().Raw}))

	// A mount of its own per test run (the shared dev server outlives tests).
	mount := "k8s-" + filepath.Base(dir)
	require.NoError(t, v.rootClient.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "kubernetes"}))
	_, err := v.rootClient.Logical().Write("auth/"+mount+"/config", map[string]any{
		"kubernetes_host": apiserver.URL, "kubernetes_ca_cert": caPEM,
		"token_reviewer_jwt": "reviewer-token", "disable_local_ca_jwt": true,
	})
	require.NoError(t, err)
	_, err = v.rootClient.Logical().Write("auth/"+mount+"/role/app", map[string]any{
		"bound_service_account_names": "app", "bound_service_account_namespaces": "default",
		"audience": "vault", "token_policies": "read-secrets", "token_ttl": "1h",
	})
	require.NoError(t, err)

	dest := filepath.Join(dir, "k")
	cfg := &agentconfig.Config{
		Vault:    agentconfig.Vault{Address: v.addr},
		Auth:     agentconfig.Auth{Type: "kubernetes", Path: "auth/" + mount, Role: "app", TokenPath: tokenFile},
		Mode:     "init",
		LogLevel: "debug",
		Templates: []agentconfig.Template{{Name: "k", Destination: dest,
			Contents: `{{ with secret "secret/data/` + path + `" }}{{ .Data.data.k }}{{ end }}`}},
	}
	require.NoError(t, cfg.Validate())
	var logs syncBuffer
	require.NoError(t, runAgent(context.Background(), cfg, &logs, io.Discard, io.Discard, fastTuning()))
	assert.Equal(t, "via-kubernetes-auth", readFile(t, dest))
	assert.Positive(t, reviewer.reviews.Load(), "Vault reviewed the service-account token")
	assert.Contains(t, logs.String(), "method=kubernetes mount=auth/"+mount+" role=app")
	assertNoSecretsInLogs(t, logs.String(), saToken)

	// A token the reviewer rejects fails the login, naming method, mount and role.
	require.NoError(t, os.WriteFile(tokenFile, []byte(v.serviceAccountJWT(t)+"x"), 0o600))
	err = runAgent(context.Background(), cfg, io.Discard, io.Discard, io.Discard, fastTuning())
	assert.ErrorIs(t, err, ErrLogin)
	assert.ErrorContains(t, err, `method kubernetes, mount auth/`+mount+`, role "app"`)
}
