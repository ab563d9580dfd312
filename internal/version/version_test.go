package version

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewCmd(t *testing.T) {
	Version, Commit = "v1.2.3", "abc1234"
	cmd := NewCmd("vaultkube-test")
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	require.NoError(t, cmd.Execute())
	line := strings.TrimSpace(out.String())
	assert.True(t, strings.HasPrefix(line, "vaultkube-test v1.2.3 (commit abc1234, go"), line)
	cmd.SetArgs([]string{"extra"})
	assert.Error(t, cmd.Execute(), "version takes no arguments")
}
