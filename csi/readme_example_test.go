package csi

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// readmeCSIExample returns the YAML documents of the README's SecretProviderClass example
// (the first yaml block of its "The CSI provider" section).
func readmeCSIExample(t *testing.T) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	readme := string(raw)
	start := strings.Index(readme, "### The CSI provider\n")
	require.GreaterOrEqual(t, start, 0, "README.md has no section The CSI provider")
	section := readme[start:]
	if next := strings.Index(section[1:], "\n### "); next >= 0 {
		section = section[:next+1]
	}
	begin := strings.Index(section, "```yaml\n")
	require.GreaterOrEqual(t, begin, 0, "the section has no yaml example")
	block := section[begin+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	var docs []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(block))
	for {
		var d map[string]any
		if err := dec.Decode(&d); err != nil {
			break
		}
		docs = append(docs, d)
	}
	require.Len(t, docs, 2, "a SecretProviderClass and a pod")
	return docs
}

func field(t *testing.T, v any, path ...string) any {
	t.Helper()
	for _, p := range path {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s is not a map", p)
		v = m[p]
	}
	return v
}

// TestREADMEExample mounts the README's SecretProviderClass against the fake Vault: the
// parameters parse, the PKI certificate and key come from one issue, the modes are the
// example's, and the synced Secret and the pod name what the class provides.
func TestREADMEExample(t *testing.T) {
	docs := readmeCSIExample(t)
	spc, pod := docs[0], docs[1]
	require.Equal(t, "SecretProviderClass", spc["kind"])
	assert.Equal(t, "secrets-store.csi.x-k8s.io/v1", spc["apiVersion"])
	assert.Equal(t, "vault", field(t, spc, "spec", "provider"))
	params := map[string]string{}
	for k, v := range field(t, spc, "spec", "parameters").(map[string]any) {
		params[k] = v.(string)
	}
	assert.Equal(t, "vault", params["audience"], "the token audience of the CSIDriver's tokenRequests")
	for k := range params {
		known := false
		for _, p := range Parameters {
			known = known || p.Key == k
		}
		assert.True(t, known, "parameter %s is not one the provider reads", k)
	}

	v := newFakeVault(t)
	var attributes map[string]string
	require.NoError(t, json.Unmarshal([]byte(attrs(v.URL, "uid-1", params["objects"], nil)), &attributes))
	for k, val := range params {
		if k != "vaultAddress" { // the fake Vault's address instead
			attributes[k] = val
		}
	}
	a, err := json.Marshal(attributes)
	require.NoError(t, err)
	p := newTestProvider(t)
	res, err := p.Mount(context.Background(), string(a), `"420"`)
	require.NoError(t, err)
	f := files(res)
	assert.Equal(t, "s3cr3t", string(f["db-password"].Contents), "KV v2: secretKey is looked up in data.data")
	assert.Equal(t, "CERT-1-app.shop.svc", string(f["tls.crt"].Contents), "secretArgs are the PUT body")
	assert.Equal(t, "KEY", string(f["tls.key"].Contents))
	assert.EqualValues(t, 1, v.issues.Load(), "certificate and key come from one issue")
	assert.EqualValues(t, 0o600, f["tls.key"].Mode)
	assert.EqualValues(t, 0o644, f["tls.crt"].Mode, "the volume's default mode")

	// secretObjects name files of the class; the pod mounts the class with the driver.
	for _, so := range field(t, spc, "spec", "secretObjects").([]any) {
		for _, d := range field(t, so, "data").([]any) {
			name := field(t, d, "objectName").(string)
			assert.Contains(t, f, name, "secretObjects data names object %s", name)
		}
	}
	vols := field(t, pod, "spec", "volumes").([]any)
	require.Len(t, vols, 1)
	assert.Equal(t, "secrets-store.csi.k8s.io", field(t, vols[0], "csi", "driver"))
	assert.Equal(t, field(t, spc, "metadata", "name"), field(t, vols[0], "csi", "volumeAttributes", "secretProviderClass"))
	assert.Equal(t, field(t, spc, "metadata", "namespace"), field(t, pod, "metadata", "namespace"))
}
