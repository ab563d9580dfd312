package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readAny decodes the next value as json.Unmarshal into an any with UseNumber does.
func readAny(r *Reader) any {
	switch r.Kind() {
	case Null:
		r.Null()
		return nil
	case Bool:
		return r.Bool()
	case Number:
		return json.Number(r.Number())
	case String:
		return r.String()
	case Object:
		m := map[string]any{}
		for it := r.Object(); it.Next(); {
			k := string(it.Key())
			m[k] = readAny(r)
		}
		return m
	case Array:
		l := []any{}
		for it := r.Array(); it.Next(); {
			l = append(l, readAny(r))
		}
		return l
	}
	return nil
}

var readerSeeds = []string{
	`{}`, ` { } `, `[]`, `[ ]`, `null`, `true`, `false`, `0`, `-0`, `-0.5e+3`, `1E9`, `12.`, `01`, `-`, `.5`,
	`"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00\ud800x\udc00"`, "\"\xff\xfe ok \xc3\xa9\"", "\"\x01\"",
	`{"a":1,"a":2,"A":[1,{"b":null}]}`, `{"a" 1}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a":1}x`, `nul`, `tru`,
	`{"k\u212a":"v"}`, `[[[[[]]]]]`, `{"a":"\u12"}`, `"\x"`, ``, ` `, `{"a":{"b":{"c":[true,false,null]}}} `,
}

// FuzzReader: the reader accepts exactly what encoding/json accepts, and what it decodes
// equals json.Unmarshal's result (with UseNumber).
func FuzzReader(f *testing.F) {
	for _, s := range readerSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		got := readAny(r)
		err := r.End()
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want any
		valid := json.Valid(b)
		require.Equal(t, valid, err == nil, "valid: %v, error %v for %q", valid, err, b)
		if !valid {
			return
		}
		require.NoError(t, dec.Decode(&want))
		require.Equal(t, want, got, "%q", b)

		// Skip and Raw check the same, and Raw is the value as written
		r = NewReader(b)
		raw := r.Raw()
		require.NoError(t, r.End(), "%q", b)
		require.Equal(t, string(bytes.Trim(b, " \t\r\n")), string(raw))
	})
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{``, "unexpected end of JSON input"},
		{`{"a":`, "unexpected end of JSON input"},
		{`{"a" 1}`, "invalid JSON at offset 5: invalid character '1' after object key"},
		{`[1 2]`, "invalid JSON at offset 3: invalid character '2' after array element"},
		{`{"a":1}x`, "invalid JSON at offset 7: invalid character 'x' after top-level value"},
		{`nul`, "unexpected end of JSON input"},
		{`nulx`, "invalid JSON at offset 3: invalid character 'x' in literal null (expecting 'l')"},
		{"\"\x01\"", `invalid JSON at offset 1: invalid character '\x01' in string literal`},
		{`{"a":1,}`, "invalid JSON at offset 7: invalid character '}' looking for beginning of object key string"},
	} {
		r := NewReader([]byte(tc.in))
		r.Skip()
		require.EqualError(t, r.End(), tc.err, "%q", tc.in)
	}
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	r := NewReader([]byte(deep))
	r.Skip()
	require.NoError(t, r.End())
	r = NewReader([]byte("[" + deep + "]"))
	r.Skip()
	require.ErrorContains(t, r.End(), "exceeded max depth")
	require.Error(t, json.Unmarshal([]byte("["+deep+"]"), new(any)), "encoding/json's limit is the same")
}

func TestReaderKeys(t *testing.T) {
	r := NewReader([]byte(`{"plain":1,"esc\u0061ped":2,"bad` + "\xff" + `":3}`))
	var keys []string
	var escaped []bool
	for m := r.Object(); m.Next(); {
		keys, escaped = append(keys, string(m.Key())), append(escaped, m.Escaped())
		r.Skip()
	}
	require.NoError(t, r.End())
	require.Equal(t, []string{"plain", "escaped", "bad\ufffd"}, keys)
	require.Equal(t, []bool{false, true, true}, escaped)
}

// A string without escapes is not copied.
func TestReaderStringSharesMemory(t *testing.T) {
	b := []byte(`"abc"`)
	s := NewReader(b).StringBytes()
	require.True(t, within(b, s))
}

// stringSpecial8 finds the first byte that a byte-by-byte scan of a string stops at, for
// every byte value in every position and for random words.
func TestStringSpecial8(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	first := func(w [8]byte) int {
		for i, c := range w {
			if special(c) {
				return i
			}
		}
		return 8
	}
	check := func(w [8]byte) {
		m := stringSpecial8(binary.LittleEndian.Uint64(w[:]))
		got := 8
		if m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if want := first(w); got != want {
			t.Fatalf("%q: first special byte at %d, want %d", w[:], got, want)
		}
	}
	for pos := range 8 {
		for c := range 256 {
			w := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			w[pos] = byte(c)
			check(w)
			// a special byte after it must not hide it, nor one before it be missed
			if pos < 7 {
				w[pos+1] = 0
				check(w)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		for i := range w {
			// mostly plain bytes, with the borders of each class
			switch rng.IntN(4) {
			case 0:
				w[i] = []byte{0x1f, 0x20, '"', '!', '#', '\\', '[', ']', 0x7f, 0x80, 0xff}[rng.IntN(11)]
			default:
				w[i] = byte(0x20 + rng.IntN(0x60))
			}
		}
		check(w)
	}
}
