package plugin

import (
	"testing"

	"github.com/stretchr/testify/require"
)

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
