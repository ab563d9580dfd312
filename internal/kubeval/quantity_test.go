package kubeval

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// quantityCases mixes valid and invalid quantities; whether each is valid is
// decided by apimachinery, not by this table.
var quantityCases = []string{
	// plain numbers, signs, fractions
	"0", "00", "-0", "+0", "0.0", "1", "-1", "+1", "--1", "+-1", "-+1", "1.", ".5", "-.5", "+.5",
	"0.5", "1.5", "1.2.3", "..5", "5..", "007", "0.000001", "0.0000000001", "-0.0000000001",
	"0.0000000015", "123456789.123456789", "123456789.1234567891",
	// no digits at all (accepted as 0 where apimachinery's fast path allows it)
	"+", "-", ".", "-.", "+.", "e3", "E3", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", ".Ti", "-Pi", "n", "m", "k",
	"e-9", "e-10", ".e-10", "E", "e",
	// white space and junk
	"", " ", " 1", "1 ", "1 Ki", "\t1", "1\n", "1,5", "1_000", "0x10", "1/2", "½", "١",
	// decimal suffixes
	"1n", "1u", "1m", "123m", "250m", "0.5m", "1k", "1K", "1M", "1G", "1T", "1P", "1E", "1.5E", "100Mm",
	"1kk", "1mi", "1ki", "1KI", "1Ki", "1Mi", "1Gi", "1.5Gi", "64Mi", "1Ti", "1Pi", "1Ei", "8Ei", "-8Ei",
	"1Mi2", "1Ki5", "1Gb", "1B", "1b", "1Kib",
	// exponents
	"1e3", "1E3", "1e+3", "1E-3", "1e-3", "1e", "1e+", "1e-", "1e3.5", "1e3e3", "1ee3", "1eE3", "1e03",
	"1E18", "1e18", "1e19", "1e-9", "1e-10", "1e-12", "-1e-12", "1.5e-9", "1.55e-9", "5e-10", "1e100",
	"-1e100", "1e-100", "2.5e2", "1e+-3", "1e3k", "1k3",
	// exponent truncated to 32 bits, as the API server does
	"1e4294967296", "1e4294967295", "1e4294967286", "e4294967286", "1e-4294967296",
	"1e9223372036854775807", "1e9223372036854775808", "1e-9223372036854775808",
	// large numbers
	"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"99999999999999999999999999999999999999", "123456789012345678901234Ki", "-123456789012345678901234Ki",
	"9007199254740993", "8589934591Gi", "8589934592Gi", "8589934591.999999999Gi", "7.999999999999999999Ei",
	"1000000000000000000000000000000000000000000000001m", "0.999999999999999999999999999999999Ei",
	"0.000000000001Ki", "-0.000000000001Ki", "0.0000000000000000001Ei", "1.0000000000000000001",
	"12345678901234567890.5", "1234567890123456789e-15", "1234567890123456789e-30",
}

// refUnsafe reports whether apimachinery could take a very long time on s: it
// materialises powers of ten for exponents far from zero (10^2147483648 for
// "1e-2147483648"), which ParseQuantity here never does.
func refUnsafe(s string) bool {
	_, _, _, suffix, ok := splitQuantity(s)
	if !ok {
		return false
	}
	u, ok := parseSuffix(suffix)
	return ok && (u.exp > 10000 || u.exp < -10000)
}

// exactRat is q's value as a big.Rat (only for moderate scales).
func exactRat(q Quantity) *big.Rat {
	if q.Sign() == 0 {
		return new(big.Rat)
	}
	r := new(big.Rat).SetInt(q.mant)
	if q.scale >= 0 {
		return r.Mul(r, new(big.Rat).SetInt(pow10(q.scale)))
	}
	return r.Quo(r, new(big.Rat).SetInt(pow10(-q.scale)))
}

// refRat is apimachinery's value of r, exactly.
func refRat(t testing.TB, r resource.Quantity) *big.Rat {
	t.Helper()
	s := r.AsDec().String()
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("cannot read apimachinery value %q", s)
	}
	return v
}

type parsedPair struct {
	text string
	mine Quantity
	ref  resource.Quantity
}

// checkAgainstRef parses s with both implementations and checks acceptance,
// sign and exact value agree. It returns the pair when both accepted.
func checkAgainstRef(t testing.TB, s string) (parsedPair, bool) {
	t.Helper()
	q, err := ParseQuantity(s)
	r, rerr := resource.ParseQuantity(s)
	if (err == nil) != (rerr == nil) {
		t.Fatalf("ParseQuantity(%q): err=%v, apimachinery err=%v", s, err, rerr)
	}
	if err != nil {
		if err.Error() == "" {
			t.Fatalf("ParseQuantity(%q): empty error message", s)
		}
		return parsedPair{}, false
	}
	if q.String() != s {
		t.Fatalf("ParseQuantity(%q).String() = %q, want the input", s, q.String())
	}
	if got, want := q.Sign(), r.Sign(); got != want {
		t.Fatalf("ParseQuantity(%q).Sign() = %d, apimachinery %d", s, got, want)
	}
	if got, want := exactRat(q), refRat(t, r); got.Cmp(want) != 0 {
		t.Fatalf("ParseQuantity(%q) = %s, apimachinery %s", s, got.RatString(), want.RatString())
	}
	if q.Cmp(q) != 0 {
		t.Fatalf("ParseQuantity(%q) does not equal itself", s)
	}
	return parsedPair{text: s, mine: q, ref: r}, true
}

func checkCmp(t testing.TB, a, b parsedPair) {
	t.Helper()
	if got, want := a.mine.Cmp(b.mine), a.ref.Cmp(b.ref); got != want {
		t.Fatalf("Cmp(%q, %q) = %d, apimachinery %d", a.text, b.text, got, want)
	}
}

func TestParseQuantityMatchesApimachinery(t *testing.T) {
	if len(quantityCases) < 60 {
		t.Fatalf("only %d cases", len(quantityCases))
	}
	var accepted []parsedPair
	for _, s := range quantityCases {
		if refUnsafe(s) {
			t.Fatalf("table case %q is too slow for apimachinery", s)
		}
		if p, ok := checkAgainstRef(t, s); ok {
			accepted = append(accepted, p)
		}
	}
	if len(accepted) < 40 || len(accepted) > len(quantityCases)-30 {
		t.Fatalf("table is unbalanced: %d of %d accepted", len(accepted), len(quantityCases))
	}
	for _, a := range accepted {
		for _, b := range accepted {
			checkCmp(t, a, b)
		}
	}
}

func TestParseQuantityKnownValues(t *testing.T) {
	// Independent of apimachinery: documented behaviour, including its quirks.
	equal := [][2]string{
		{"1E18", "1000000000000000000"},
		{"1e18", "1E"},
		{"0.000001", "1u"},
		{"1Ki", "1024"},
		{"1.5Gi", "1536Mi"},
		{".5", "500m"},
		{"5.", "5"},
		{"+1k", "1000"},
		{"0.1n", "1n"},                  // rounded up to 1n
		{"-1e-12", "-1n"},               // away from zero
		{"1.0000000001", "1.000000001"}, // rounded up to the next nano unit
		{"123456789012345678901234Ki", "9223372036854775807"}, // binary cap
		{"-9Ei", "-9223372036854775807"},
		{"1e4294967296", "1"}, // exponent truncated to 32 bits
		{"1e4294967295", "100m"},
		{"+", "0"}, {".", "0"}, {"e3", "0"}, {"Ki", "0"},
	}
	for _, c := range equal {
		a, b := parsePair(t, c)
		if a.Cmp(b) != 0 || b.Cmp(a) != 0 {
			t.Errorf("%q and %q should be equal", c[0], c[1])
		}
	}
	less := [][2]string{
		{"999m", "1"}, {"1k", "1Ki"}, {"1E", "1Ei"}, {"-1", "0"}, {"-2", "-1"}, {"1e-9", "1.5e-9"},
		{"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567891"},
		{"1e2000000000", "1.0000001e2000000000"}, {"1e-2000000000", "2n"}, {"-2n", "-1e-2000000000"},
		{"99999999999999999999999999", "1e26"}, {"1e2147483647", "1.5e-2147483648"},
	}
	for _, c := range less {
		a, b := parsePair(t, c)
		if a.Cmp(b) != -1 || b.Cmp(a) != 1 {
			t.Errorf("want %q < %q, got Cmp %d / %d", c[0], c[1], a.Cmp(b), b.Cmp(a))
		}
	}
	for _, s := range []string{"", " 1", "1 ", "1e", "1e+", "1Mi2", "--1", "1.2.3", "Pi", ".e-10", "1ki"} {
		if _, err := ParseQuantity(s); err == nil {
			t.Errorf("ParseQuantity(%q) accepted", s)
		}
	}
}

func TestQuantityZeroValue(t *testing.T) {
	var z Quantity
	one, _ := ParseQuantity("1")
	zero, _ := ParseQuantity("0")
	if z.Sign() != 0 || z.Cmp(zero) != 0 || z.Cmp(one) != -1 || one.Cmp(z) != 1 || z.String() != "0" {
		t.Fatalf("zero Quantity misbehaves")
	}
}

func TestQuantityMarshalJSON(t *testing.T) {
	for _, s := range []string{"250m", "1.5Gi", "+1k", "1e3", "0"} {
		q, err := ParseQuantity(s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(struct {
			Q Quantity `json:"q"`
		}{q})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"q":"` + s + `"}`; string(b) != want {
			t.Errorf("json = %s, want %s", b, want)
		}
	}
	b, err := json.Marshal(Quantity{})
	if err != nil || string(b) != `"0"` {
		t.Errorf("zero Quantity json = %s, %v", b, err)
	}
}

func TestParseQuantityExtremeExponentsAreFast(t *testing.T) {
	// apimachinery needs minutes and gigabytes for some of these; we must not.
	for _, s := range []string{"1e-2147483648", "1e-2000000000", "1234567890123456789e2147483647", "-1.5e-2147483648", "9.99e2147483647"} {
		q, err := ParseQuantity(s)
		if err != nil {
			t.Fatalf("ParseQuantity(%q): %v", s, err)
		}
		if q.Cmp(q) != 0 || q.Sign() == 0 {
			t.Fatalf("%q misbehaves", s)
		}
	}
}

// TestParseQuantityRandomAlphabet compares both parsers on many short random
// strings over the quantity alphabet, where the interesting corner cases live.
func TestParseQuantityRandomAlphabet(t *testing.T) {
	const alphabet = "0000111599..+-eEeEinumkKMGTPi x"
	rng := rand.New(rand.NewPCG(1, 2))
	var refs []parsedPair
	for _, s := range []string{"0", "1n", "-1n", "1", "-1", "1Ki", "1E", "1e-3", "999m"} {
		p, _ := checkAgainstRef(t, s)
		refs = append(refs, p)
	}
	accepted := 0
	for range 30000 {
		b := make([]byte, 1+rng.IntN(9))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		if refUnsafe(s) {
			continue
		}
		p, ok := checkAgainstRef(t, s)
		if !ok {
			continue
		}
		accepted++
		for _, r := range refs {
			checkCmp(t, p, r)
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d random strings were valid", accepted)
	}
}

var fuzzReference []parsedPair

func FuzzParseQuantity(f *testing.F) {
	for _, s := range quantityCases {
		f.Add(s)
	}
	for _, s := range []string{"1e-2147483648", "1.5e-2147483648", "1e2147483647", strings.Repeat("9", 400) + "Ei"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if fuzzReference == nil {
			for _, c := range quantityCases {
				if refUnsafe(c) {
					continue
				}
				if p, ok := checkAgainstRef(t, c); ok {
					fuzzReference = append(fuzzReference, p)
				}
			}
		}
		if refUnsafe(s) {
			// Too slow for apimachinery: only check that we cope.
			if q, err := ParseQuantity(s); err == nil && q.Cmp(q) != 0 {
				t.Fatalf("%q does not equal itself", s)
			}
			return
		}
		p, ok := checkAgainstRef(t, s)
		if !ok {
			return
		}
		for _, r := range fuzzReference {
			checkCmp(t, p, r)
			checkCmp(t, r, p)
		}
	})
}

// parsePair parses both quantities of a test case, failing the test on an error.
func parsePair(t *testing.T, c [2]string) (Quantity, Quantity) {
	t.Helper()
	a, err := ParseQuantity(c[0])
	if err != nil {
		t.Fatalf("ParseQuantity(%q): %v", c[0], err)
	}
	b, err := ParseQuantity(c[1])
	if err != nil {
		t.Fatalf("ParseQuantity(%q): %v", c[1], err)
	}
	return a, b
}
