package kubeval

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Quantity is a parsed Kubernetes resource quantity ("250m", "64Mi", "1e3",
// "0.5", "1.5Gi", "+1k").
//
// The value is held exactly, as a math/big mantissa times a power of ten, so
// quantities of any size ("1E18", "0.000001", "123456789012345678901234k")
// compare exactly. Parsing applies the same adjustments as the API server:
//
//   - a non-zero magnitude that is not a whole number of nano units (10^-9)
//     is rounded up, away from zero, to the next one: "0.1n" is 1n and
//     "-1e-12" is -1n;
//   - a quantity with a binary suffix (Ki, Mi, Gi, Ti, Pi, Ei) is capped at
//     ±(2^63-1): "123456789012345678901234Ki" equals "9223372036854775807";
//   - an e/E exponent is read as a 64-bit integer and then truncated to 32
//     bits: "1e4294967296" is 1 and "1e4294967295" is 0.1 (so 100m).
//
// The zero value is the quantity 0. A Quantity is immutable and safe to copy.
type Quantity struct {
	text   string   // the input, as given
	mant   *big.Int // nil or zero for the quantity 0; never modified once set
	scale  int64    // the value is mant × 10^scale
	digits int64    // decimal digits of |mant|; 0 when mant is zero
}

// unit is the meaning of a quantity suffix: a power of ten, or of two when binary.
type unit struct {
	binary bool
	exp    int32
}

var fixedSuffixes = map[string]unit{
	"":   {exp: 0},
	"n":  {exp: -9},
	"u":  {exp: -6},
	"m":  {exp: -3},
	"k":  {exp: 3},
	"M":  {exp: 6},
	"G":  {exp: 9},
	"T":  {exp: 12},
	"P":  {exp: 15},
	"E":  {exp: 18},
	"Ki": {binary: true, exp: 10},
	"Mi": {binary: true, exp: 20},
	"Gi": {binary: true, exp: 30},
	"Ti": {binary: true, exp: 40},
	"Pi": {binary: true, exp: 50},
	"Ei": {binary: true, exp: 60},
}

// nanoScale is the finest scale the API server keeps: 1n = 10^-9.
const nanoScale = -9

var errEmptyQuantity = errors.New("quantity must not be empty")

// ParseQuantity parses a Kubernetes resource quantity. It accepts exactly the
// strings that k8s.io/apimachinery/pkg/api/resource.ParseQuantity accepts: an
// optional sign, decimal digits with an optional fraction ("5.", ".5"), then an
// optional suffix, one of the binary Ki Mi Gi Ti Pi Ei, the decimal n u m k M G
// T P E, or a decimal exponent e/E followed by an optional sign and digits.
// White space anywhere is rejected.
//
// Two apimachinery quirks are kept because the API server has them too: a
// number without any digit ("+", ".", "-.") reads as 0, except before Pi, Ei or
// an exponent below -9, where it is rejected; and e.g. "e3" or "Ki" alone are 0.
func ParseQuantity(s string) (Quantity, error) {
	if s == "" {
		return Quantity{}, errEmptyQuantity
	}
	neg, intDigits, fracDigits, suffix, ok := splitQuantity(s)
	if !ok {
		return Quantity{}, fmt.Errorf("quantity %q: want an optional sign, decimal digits with an optional fraction, then an optional suffix (e.g. 250m, 1.5Gi, 1e3)", s)
	}
	u, ok := parseSuffix(suffix)
	if !ok {
		return Quantity{}, fmt.Errorf("quantity %q: unknown suffix %q (want one of n u m k M G T P E Ki Mi Gi Ti Pi Ei, or an exponent such as e3)", s, suffix)
	}
	if intDigits == "" && fracDigits == "" && !u.allowsNoDigits() {
		return Quantity{}, fmt.Errorf("quantity %q: the number has no digits", s)
	}

	mant := new(big.Int)
	if d := intDigits + fracDigits; d != "" {
		mant.SetString(d, 10) // only ASCII digits: cannot fail
	}
	if neg {
		mant.Neg(mant)
	}
	var scale int64
	if u.binary {
		mant.Lsh(mant, uint(u.exp))
		scale = -int64(len(fracDigits))
	} else {
		// 32-bit arithmetic on purpose: the API server computes the scale
		// as an int32 and so wraps around for exponents near ±2^31.
		scale = int64(u.exp - int32(len(fracDigits)))
	}
	q := Quantity{text: s, mant: mant, scale: scale}
	q.roundUpToNano()
	if u.binary {
		q.capMagnitude()
	}
	q.countDigits()
	return q, nil
}

// splitQuantity splits s into sign, integer digits, fraction digits and
// suffix. The suffix must have the form [eEinumkKMGTP]*[+-]?[0-9]*; whether it
// means anything is decided by parseSuffix.
func splitQuantity(s string) (neg bool, intDigits, fracDigits, suffix string, ok bool) {
	i := 0
	if strings.HasPrefix(s, "-") {
		neg = true
		i++
	} else if strings.HasPrefix(s, "+") {
		i++
	}
	start := i
	i = skipDigits(s, i)
	intDigits = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		i = skipDigits(s, i)
		fracDigits = s[start:i]
	}
	suffix = s[i:]

	j := 0
	for j < len(suffix) && strings.IndexByte("eEinumkKMGTP", suffix[j]) >= 0 {
		j++
	}
	if j < len(suffix) && (suffix[j] == '+' || suffix[j] == '-') {
		j++
	}
	j = skipDigits(suffix, j)
	return neg, intDigits, fracDigits, suffix, j == len(suffix)
}

func skipDigits(s string, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// parseSuffix interprets a quantity suffix.
func parseSuffix(suffix string) (unit, bool) {
	if u, ok := fixedSuffixes[suffix]; ok {
		return u, true
	}
	if len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E') {
		n, err := strconv.ParseInt(suffix[1:], 10, 64)
		if err != nil {
			return unit{}, false
		}
		// Truncated to 32 bits, as the API server does.
		return unit{exp: int32(n)}, true
	}
	return unit{}, false
}

// allowsNoDigits reports whether a number without any digit ("", "+", ".")
// is read as 0 before this unit. The API server reads such a number as 0 only
// on its int64 fast path; its exact path needs a digit. A digit-less number
// leaves the fast path exactly for the binary suffixes whose estimated
// precision is negative (Pi and Ei) and for exponents below nano.
func (u unit) allowsNoDigits() bool {
	if u.binary {
		return u.exp < 50
	}
	return u.exp >= nanoScale
}

// roundUpToNano rounds a non-zero magnitude finer than 10^-9 up to the next
// multiple of 10^-9.
func (q *Quantity) roundUpToNano() {
	if q.mant.Sign() == 0 {
		q.scale = 0
		return
	}
	if q.scale >= nanoScale {
		return
	}
	k := nanoScale - q.scale // the value is divided by 10^k, k > 0
	abs := new(big.Int).Abs(q.mant)
	if decimalDigits(abs) <= k {
		// 0 < |value| < 10^-9: the smallest non-zero quantity, 1n.
		abs.SetInt64(1)
	} else {
		var rem big.Int
		abs.QuoRem(abs, pow10(k), &rem)
		if rem.Sign() != 0 {
			abs.Add(abs, big.NewInt(1))
		}
	}
	if q.mant.Sign() < 0 {
		abs.Neg(abs)
	}
	q.mant, q.scale = abs, nanoScale
}

// capMagnitude caps |value| at 2^63-1, as the API server does for binary
// quantities. The scale is at most 0 here (binary quantities never have a
// positive decimal scale).
func (q *Quantity) capMagnitude() {
	limit := big.NewInt(math.MaxInt64)
	if q.scale < 0 {
		limit.Mul(limit, pow10(-q.scale))
	}
	if new(big.Int).Abs(q.mant).Cmp(limit) <= 0 {
		return
	}
	capped := big.NewInt(math.MaxInt64)
	if q.mant.Sign() < 0 {
		capped.Neg(capped)
	}
	q.mant, q.scale = capped, 0
}

func (q *Quantity) countDigits() {
	q.digits = 0
	if q.mant.Sign() != 0 {
		q.digits = decimalDigits(q.mant)
	}
}

// decimalDigits returns the number of decimal digits of |x|, x != 0.
func decimalDigits(x *big.Int) int64 {
	n := int64(len(x.Text(10)))
	if x.Sign() < 0 {
		n--
	}
	return n
}

func pow10(n int64) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil)
}

// Sign returns -1, 0 or +1 as q is negative, zero or positive.
func (q Quantity) Sign() int {
	if q.mant == nil {
		return 0
	}
	return q.mant.Sign()
}

// Cmp returns -1, 0 or +1 as q is less than, equal to or greater than o,
// comparing exactly the values the API server would hold.
func (q Quantity) Cmp(o Quantity) int {
	qs, os := q.Sign(), o.Sign()
	switch {
	case qs < os:
		return -1
	case qs > os:
		return 1
	case qs == 0:
		return 0
	}
	return qs * cmpMagnitude(q, o)
}

// cmpMagnitude compares |a| and |b|, both non-zero, without materialising
// huge powers of ten: numbers of different decimal order are ordered by it,
// and for equal orders the scales differ by at most the mantissa lengths.
func cmpMagnitude(a, b Quantity) int {
	ea, eb := a.digits+a.scale, b.digits+b.scale // 10^(e-1) <= |x| < 10^e
	switch {
	case ea < eb:
		return -1
	case ea > eb:
		return 1
	}
	x := new(big.Int).Abs(a.mant)
	y := new(big.Int).Abs(b.mant)
	switch {
	case a.scale > b.scale:
		x.Mul(x, pow10(a.scale-b.scale))
	case b.scale > a.scale:
		y.Mul(y, pow10(b.scale-a.scale))
	}
	return x.Cmp(y)
}

// String returns the quantity as it was written (the API server canonicalises
// it); the zero Quantity is "0".
func (q Quantity) String() string {
	if q.text == "" {
		return "0"
	}
	return q.text
}

// MarshalJSON encodes the quantity as a JSON string of String().
func (q Quantity) MarshalJSON() ([]byte, error) {
	return json.Marshal(q.String())
}
