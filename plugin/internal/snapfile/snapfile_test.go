package snapfile

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzParseChecksumLine(f *testing.F) {
	f.Add(strings.Repeat("ab", 32) + "  vault.snap\n")
	f.Add(strings.Repeat("AB", 32))
	f.Add("")
	f.Add("xyz  file")
	f.Fuzz(func(t *testing.T, line string) {
		sum, ok := ParseChecksumLine(line)
		if !ok {
			return
		}
		require.Len(t, sum, 64)
		require.Equal(t, strings.ToLower(sum), sum)
	})
}
