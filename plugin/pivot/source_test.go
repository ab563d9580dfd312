package pivot

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pivot's source client takes its TLS settings and token from the flags only: VAULT_*
// variables in this machine's environment must not turn its certificate checks off, trust
// another CA, or replace the token (issue 18 item 1).
func TestSourceVaultIgnoresVaultEnvironment(t *testing.T) {
	var gotToken, gotNS string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotToken, gotNS = r.Header.Get("X-Vault-Token"), r.Header.Get("X-Vault-Namespace")
		fmt.Fprint(w, `{"type":"shamir","initialized":true,"sealed":false,"t":1,"n":1,"storage_type":"raft"}`)
	}))
	defer srv.Close()
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	t.Setenv("VAULT_TOKEN", "hvs.FROM-ENV")
	t.Setenv("VAULT_NAMESPACE", "env-ns")
	t.Setenv("VAULT_ADDR", "https://elsewhere.invalid:8200")

	// No --source-ca-cert: the test server's certificate is not trusted, whatever
	// VAULT_SKIP_VERIFY says.
	sv, err := NewSource(srv.URL, "hvs.SOURCE", "", "")
	require.NoError(t, err)
	_, err = sv.sealStatus(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")

	// With --source-ca-cert it works, with the flag's token and no namespace from the
	// environment; VAULT_CACERT pointing at the right CA does not make the first case work.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, certPEM(t, srv), 0o600))
	t.Setenv("VAULT_CACERT", ca)
	sv, err = NewSource(srv.URL, "hvs.SOURCE", "", "")
	require.NoError(t, err)
	_, err = sv.sealStatus(context.Background())
	require.Error(t, err, "VAULT_CACERT must not be used")

	sv, err = NewSource(srv.URL, "hvs.SOURCE", ca, "")
	require.NoError(t, err)
	st, err := sv.sealStatus(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "raft", st.StorageType)
	assert.Equal(t, "hvs.SOURCE", gotToken)
	assert.Empty(t, gotNS)
	assert.Equal(t, srv.URL, sv.addr)
}

// certPEM is the PEM of srv's certificate (self-signed by httptest: it is its own CA).
func certPEM(t *testing.T, srv *httptest.Server) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}
