package plugin

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
		sum, ok := parseChecksumLine(line)
		if !ok {
			return
		}
		require.Len(t, sum, 64)
		require.Equal(t, strings.ToLower(sum), sum)
	})
}

func FuzzResolvePod(f *testing.F) {
	for _, s := range []string{"vault-0", "1", "-1", "vault", "", "99999999999999999999", "vault-1-2"} {
		f.Add(s)
	}
	pods := healthy3().pods
	f.Fuzz(func(t *testing.T, arg string) {
		p, err := resolvePod(pods, arg)
		if err != nil {
			require.ErrorIs(t, err, ErrPodNotFound)
			return
		}
		require.Contains(t, podNames(pods), p.Name)
	})
}
