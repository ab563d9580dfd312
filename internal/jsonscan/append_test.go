package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAppendStringEveryByte: every byte value, and the runes encoding/json escapes, at
// every offset in and across the 8-byte blocks AppendString tests at once.
func TestAppendStringEveryByte(t *testing.T) {
	var specials []string
	for b := range 256 {
		specials = append(specials, string([]byte{byte(b)}))
	}
	specials = append(specials, "\u2028", "\u2029", "é", "🙂", "\xe2\x80", "\\\"<>&\x00")
	for _, special := range specials {
		for before := range 18 {
			for _, after := range []int{0, 1, 7, 8, 9} {
				s := strings.Repeat("a", before) + special + strings.Repeat("b", after)
				want, err := json.Marshal(s)
				require.NoError(t, err)
				require.Equal(t, string(want), string(AppendString(nil, s)), "%q", s)
			}
		}
	}
}

// FuzzAppendString: strings are written as encoding/json writes them.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a\"b\\c/<x>&y\u2028z\u2029\x00\x01\x1f\x7f\n\r\t\b\f\xff\xc3(\xe2\x80 é世🙂\ufffd", "\xe2\x80\xa8", "\xe2\x80", "\xed\xa0\x80", "\U0010ffff", "\xf4\x90\x80\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendString([]byte("x"), s)[1:]), "%q", s)
	})
}
