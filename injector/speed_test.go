package injector

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuantities(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{{"", true}, {"0", true}, {"250m", true}, {"64Mi", true}, {"1.5Gi", true}, {"1e3", true}, {"+1", true},
		{"-1", false}, {"1x", false}, {"1KI", false}, {" 1", false}, {"Ki", true}, {"0x10", false}} {
		assert.Equal(t, tc.ok, checkQuantity(tc.v) == nil, "checkQuantity(%q)", tc.v)
	}
	for _, tc := range []struct {
		a, b string
		c    int
		ok   bool
	}{{"250m", "1", -1, true}, {"1Gi", "1024Mi", 0, true}, {"1G", "1Gi", -1, true}, {"2", "1500m", 1, true},
		{"1e3", "1k", 0, true}, {"-1", "1", 0, false}, {"x", "1", 0, false}} {
		c, ok := compareQuantities(tc.a, tc.b)
		assert.Equal(t, tc.ok, ok, "compareQuantities(%q, %q)", tc.a, tc.b)
		assert.Equal(t, tc.c, c, "compareQuantities(%q, %q)", tc.a, tc.b)
	}
}

func TestServerSupportsNativeSidecars(t *testing.T) {
	for v, want := range map[string]bool{
		"": true, "v1.37.2": true, "v1.29.0": true, "1.29": true, "v1.30.1-eks-1a2b": true, "v2.0.0": true,
		"v1.28.15": false, "v1.28.0+k3s1": false, "1.9": false, "not a version": true,
	} {
		assert.Equal(t, want, Config{ServerVersion: v}.ServerSupportsNativeSidecars(), v)
	}
}

func TestHasDotDot(t *testing.T) {
	for _, p := range []string{"", "/", "..", "../", "/..", "a/..", "a/../b", "...", "a..", "..a", "a/b", "//..//", "a/.../b", "./."} {
		want := false
		for _, part := range strings.Split(p, "/") {
			want = want || part == ".."
		}
		assert.Equal(t, want, hasDotDot(p), p)
	}
}

// TestParserGet checks the presence bits: get and perSecret answer as the map does.
func TestParserGet(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var candidates []string
	for _, table := range [][]Annotation{Annotations, Extensions} {
		for _, row := range table {
			candidates = append(candidates, row.Key)
			for _, name := range []string{"db", "api", "x", "DB", "file-db", "a-b-c"} {
				candidates = append(candidates, row.Key+"-"+name)
			}
		}
	}
	for range 300 {
		ann := map[string]string{}
		for range rng.IntN(40) {
			ann[candidates[rng.IntN(len(candidates))]] = "v"
		}
		p := parser{ann: ann}
		for k := range ann {
			p.present |= keyBit(k)
		}
		for _, k := range candidates {
			want, wantOK := ann[k]
			got, ok := p.get(k)
			require.Equal(t, wantOK, ok, k)
			require.Equal(t, want, got, k)
		}
		for _, table := range [][]Annotation{Annotations, Extensions} {
			for _, row := range table {
				for _, name := range []string{"db", "api", "x", "DB", "file-db", "a-b-c", "nope"} {
					want, wantOK := ann[row.Key+"-"+name]
					got, ok := p.perSecret(row.Key, name)
					require.Equal(t, wantOK, ok, row.Key+"-"+name)
					require.Equal(t, want, got, row.Key+"-"+name)
				}
			}
		}
	}
}

func BenchmarkParseAnnotations(b *testing.B) {
	ann := basic(
		AnnInject, "true",
		AnnTemplate+"-db", `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`,
		AnnTLSSecret, "vault-tls", AnnCACert, "/vault/tls/ca.crt",
	)
	cfg := testConfig()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseAnnotations(ann, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateTemplate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateTemplate(`{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`, "{{", "}}"); err != nil {
			b.Fatal(err)
		}
	}
}
