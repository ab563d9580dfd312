package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/csi"
)

// The bench's attributes are a valid request as the driver sends it: the JWT auth mount,
// the audience's token, the pod and the objects.
func TestCSIAttributesParse(t *testing.T) {
	for _, n := range []int{1, csiSecrets} {
		r, err := csi.ParseRequest(csiAttributes("http://127.0.0.1:8200", "uid-1", "a.b.c", csiObjects(n)), csiPermission, csi.Defaults{})
		require.NoError(t, err)
		assert.Equal(t, csiAuthMount, r.AuthMount)
		assert.Equal(t, csiRole, r.Role)
		assert.Equal(t, "a.b.c", r.JWT)
		assert.Equal(t, "uid-1", r.PodUID)
		require.Len(t, r.Objects, n)
		assert.Equal(t, "secret/data/bench/s0", r.Objects[0].Path)
	}
}

// The signed token verifies with the public key the bench gives Vault and carries the
// claims the role binds (aud vault, sub).
func TestSignServiceAccountJWT(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jwt, err := signServiceAccountJWT(key, "uid-1")
	require.NoError(t, err)
	parts := strings.Split(jwt, ".")
	require.Len(t, parts, 3)

	pemText, err := publicKeyPEM(key)
	require.NoError(t, err)
	blk, _ := pem.Decode([]byte(pemText))
	require.NotNil(t, blk)
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	require.NoError(t, err)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	require.Len(t, sig, 64)
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	assert.True(t, ecdsa.Verify(pub.(*ecdsa.PublicKey), sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])))

	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	assert.Equal(t, []any{csiAudience}, claims["aud"])
	assert.Equal(t, "system:serviceaccount:bench:app", claims["sub"])
}
