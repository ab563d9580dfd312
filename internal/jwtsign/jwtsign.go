// Package jwtsign signs ES256 JWTs for the benchmarks and tests that log in to a real Vault
// through its JWT auth method (the same login path as Kubernetes auth).
package jwtsign

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// ES256 returns the compact JWT of claims signed with key (a P-256 key).
func ES256(key *ecdsa.PrivateKey, claims map[string]any) (string, error) {
	enc := func(x any) (string, error) {
		b, err := json.Marshal(x)
		return base64.RawURLEncoding.EncodeToString(b), err
	}
	h, err := enc(map[string]string{"alg": "ES256", "typ": "JWT"})
	if err != nil {
		return "", err
	}
	c, err := enc(claims)
	if err != nil {
		return "", err
	}
	signing := h + "." + c
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
