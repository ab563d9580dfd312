package envflag

import (
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestApply(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	a := fs.String("vault-address", "d", "")
	n := fs.Int("read-concurrency", 1, "")
	b := fs.Bool("verbose", false, "")
	require.NoError(t, fs.Parse([]string{"--read-concurrency", "5"}))
	t.Setenv("P_VAULT_ADDRESS", "https://env")
	t.Setenv("P_READ_CONCURRENCY", "9")
	require.NoError(t, Apply(fs, "P_"))
	assert.Equal(t, "https://env", *a)
	assert.Equal(t, 5, *n, "the command line wins")
	assert.False(t, *b)
	t.Setenv("P_VERBOSE", "maybe")
	err := Apply(fs, "P_")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "P_VERBOSE")
}
