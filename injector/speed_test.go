package injector

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
	"github.com/vaultkube/vaultkube/internal/kubeval"
)

// slowCheckQuantity and slowCompare are checkQuantity and the request/limit comparison of
// checkRequestLimit as they were before parseQuantityFast: kubeval.ParseQuantity for
// everything.
func slowCheckQuantity(v string) bool {
	if v == "" {
		return true
	}
	q, err := kubeval.ParseQuantity(v)
	return err == nil && q.Sign() >= 0
}

func slowCompare(a, b string) (int, bool) {
	if a == "" || b == "" || !slowCheckQuantity(a) || !slowCheckQuantity(b) {
		return 0, false
	}
	x, _ := kubeval.ParseQuantity(a)
	y, _ := kubeval.ParseQuantity(b)
	return x.Cmp(y), true
}

// assertQuantitiesAgree checks parseQuantityFast, checkQuantity and compareQuantities
// against kubeval.ParseQuantity for two quantity strings.
func assertQuantitiesAgree(t *testing.T, a, b string) {
	t.Helper()
	for _, s := range []string{a, b} {
		if _, ok := parseQuantityFast(s); ok {
			q, err := kubeval.ParseQuantity(s)
			require.NoError(t, err, "parseQuantityFast read %q, kubeval rejects it", s)
			require.GreaterOrEqual(t, q.Sign(), 0, s)
		}
		require.Equal(t, slowCheckQuantity(s), checkQuantity(s) == nil, "checkQuantity(%q)", s)
	}
	wantC, wantOK := slowCompare(a, b)
	gotC, gotOK := compareQuantities(a, b)
	require.Equal(t, wantOK, gotOK, "compareQuantities(%q, %q)", a, b)
	require.Equal(t, wantC, gotC, "compareQuantities(%q, %q)", a, b)
}

var quantitySamples = []string{
	"", "0", "00", "0.0", "0m", "0Ki", "0Ei", "1", "2", "10", "100m", "250m", "500m", "1000m",
	"0.1", "0.25", "0.5", "1.", "1.5", ".5", "5.", "1.000000001", "1.0000000001", "0.000000001",
	"0.0000000001", "1n", "1.5n", "1u", "1m", "1k", "1M", "1G", "1T", "1P", "1E", "9E", "10E",
	"64Mi", "128Mi", "1Gi", "1.5Gi", "0.5Gi", "512Mi", "1024Ki", "1048576", "1Ti", "8Ei",
	"7.99Ei", "7Ei", "8191Pi", "8192Pi", "1.000000001Ki", "0.0000000001Ki",
	"999999999999999999", "9999999999999999999", "123456789012345678901234Ki",
	"999999999999999999E", "99999999999999999.9m", "1e3", "1E3", "1e-9", "1e-10", "+1", "-1",
	"-0", "+0.5Gi", "1 ", " 1", "1x", "1KI", "1mi", "m", "Ki", "e3", ".", "1..2", "1.2.3",
	"0x10", "1_000", "１", "1Mi ", "5e", "5Ei1",
}

func TestParseQuantityFastAgreesWithKubeval(t *testing.T) {
	for _, a := range quantitySamples {
		for _, b := range quantitySamples {
			assertQuantitiesAgree(t, a, b)
		}
	}
	// random numbers of each shape and suffix, near the limits of the fast path
	suffixes := []string{"", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	rng := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return b.String()
	}
	random := func() string {
		s := digits(rng.IntN(20))
		if rng.IntN(2) == 0 {
			s += "." + digits(rng.IntN(12))
		}
		return s + suffixes[rng.IntN(len(suffixes))]
	}
	for range 20000 {
		assertQuantitiesAgree(t, random(), random())
	}
	// equal values written differently
	for _, pair := range [][2]string{{"1Ki", "1024"}, {"0.5", "500m"}, {"1G", "1000M"}, {"1E", "1000P"}, {"1.5Gi", "1536Mi"}, {"1n", "0.000000001"}} {
		c, ok := compareQuantities(pair[0], pair[1])
		assert.True(t, ok)
		assert.Zero(t, c, pair)
	}
}

// FuzzCompareQuantities checks the fast quantity path against kubeval.ParseQuantity.
func FuzzCompareQuantities(f *testing.F) {
	for i := 0; i+1 < len(quantitySamples); i++ {
		f.Add(quantitySamples[i], quantitySamples[i+1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		assertQuantitiesAgree(t, a, b)
	})
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

// configStrings are string values that exercise every escaping path of encoding/json.
var configStrings = []string{
	"", "a", "/vault/secrets/db", `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`,
	"a\"b", `a\b`, "<script>&amp;</script>", "line\nbreak\r\ttab", "\b\f\x00\x01\x1f", "\x7f",
	"é", "日本", "\u2028\u2029", "\xff\xfe", "a\xc3", "🔑", " ", "token_path",
}

// fillRandom sets every field under v to a random value; it fails on a kind it does not
// know, so that a new kind of field in agentconfig is noticed.
func fillRandom(t *testing.T, rng *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fillRandom(t, rng, v.Field(i))
		}
	case reflect.String:
		v.SetString(configStrings[rng.IntN(len(configStrings))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int:
		v.SetInt(rng.Int64N(2000) - 1000)
	case reflect.Pointer:
		if rng.IntN(3) == 0 {
			v.SetZero()
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fillRandom(t, rng, v.Elem())
	case reflect.Slice:
		switch n := rng.IntN(5) - 1; n {
		case -1:
			v.SetZero()
		default:
			v.Set(reflect.MakeSlice(v.Type(), n, n))
			for i := range n {
				fillRandom(t, rng, v.Index(i))
			}
		}
	case reflect.Map:
		switch n := rng.IntN(5) - 1; n {
		case -1:
			v.SetZero()
		default:
			v.Set(reflect.MakeMap(v.Type()))
			for range n {
				k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
				fillRandom(t, rng, k)
				fillRandom(t, rng, e)
				v.SetMapIndex(k, e)
			}
		}
	default:
		t.Fatalf("fillRandom: %s fields are new to appendAgentConfig: add them there and here", v.Kind())
	}
}

func TestAppendAgentConfigIsJSONMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		var c agentconfig.Config
		fillRandom(t, rng, reflect.ValueOf(&c).Elem())
		want, err := json.Marshal(c)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendAgentConfig(nil, &c)))
	}
	// the zero value, and one with every field set
	var zero agentconfig.Config
	want, _ := json.Marshal(zero)
	assert.Equal(t, string(want), string(appendAgentConfig(nil, &zero)))
	var full agentconfig.Config
	setAll(reflect.ValueOf(&full).Elem())
	want, _ = json.Marshal(full)
	assert.Equal(t, string(want), string(appendAgentConfig(nil, &full)))
	assert.NotContains(t, string(want), `""`, "setAll left a field empty")
}

// setAll gives every field a non-empty value.
func setAll(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			setAll(v.Field(i))
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		v.SetInt(7)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		setAll(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		setAll(v.Index(0))
		setAll(v.Index(1))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for _, k := range []string{"b", "a", "c"} {
			v.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(k+"v"))
		}
	}
}

// FuzzAppendAgentConfig checks appendAgentConfig against json.Marshal for arbitrary strings.
func FuzzAppendAgentConfig(f *testing.F) {
	for _, s := range configStrings {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, s string, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 0))
		var c agentconfig.Config
		fillRandom(t, rng, reflect.ValueOf(&c).Elem())
		c.Vault.Address, c.Auth.Role, c.Mode = s, s+s, s
		c.Auth.Config = map[string]string{s: s, "a" + s: "b"}
		c.Templates = append(c.Templates, agentconfig.Template{Name: s, Contents: s, Command: []string{s}})
		want, err := json.Marshal(c)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendAgentConfig(nil, &c)))
	})
}

var versionSamples = []string{
	"", "v", "vv1.29", "1", "v1", "1.", "1.29", "v1.29", "v1.28", "v1.29.0", "v1.37.2", "1.30.1-eks-1a2b3c",
	"v1.29.3+k3s1", "v1.28.15-gke.100", "v2.0", "v0.99", "0.29", "01.29", "v1.029", "1.29.", "1.29.3.4",
	"1.2.3a", " v1.29", "v1.29\n", "v1.29-rc\n", "v1.29 ", "v1.9999999999", "v99999999999999999999.1",
	"v1.29.99999999999999999999", "v1.29.99999999999999999999-x", "1.29.0.99999999999999999999", "V1.29",
	"v1.29-", "v1.29+", "v1.-29", "v1..29", "1.0000000029", "123456789.1", "1234567890.1",
}

func TestParseSimpleVersionAgreesWithKubeval(t *testing.T) {
	for _, s := range versionSamples {
		checkSimpleVersion(t, s)
	}
}

func checkSimpleVersion(t *testing.T, s string) {
	t.Helper()
	v, err := kubeval.ParseGenericVersion(s)
	if major, minor, ok := parseSimpleVersion(s); ok {
		require.NoError(t, err, "parseSimpleVersion read %q, kubeval rejects it", s)
		for _, m := range []int{0, 1, 2} {
			for _, n := range []int{0, 28, 29, 30} {
				want := v.AtLeast(m, n)
				got := major > uint64(m) || (major == uint64(m) && minor >= uint64(n))
				require.Equal(t, want, got, "%q at least %d.%d", s, m, n)
			}
		}
	}
	c := Config{ServerVersion: s}
	require.Equal(t, s == "" || err != nil || v.AtLeast(1, 29), c.ServerSupportsNativeSidecars(), s)
}

// FuzzParseSimpleVersion checks the version fast path against kubeval.ParseGenericVersion.
func FuzzParseSimpleVersion(f *testing.F) {
	for _, s := range versionSamples {
		f.Add(s)
	}
	f.Fuzz(checkSimpleVersion)
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
