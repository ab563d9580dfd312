package version

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewCmd(t *testing.T) {
	Version, Commit, Date = "v1.2.3", "abc1234", "2026-12-05T21:00:00Z"
	cmd := NewCmd("vaultkube-test")
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(nil)
	require.NoError(t, cmd.Execute())
	line := strings.TrimSpace(out.String())
	assert.True(t, strings.HasPrefix(line, "vaultkube-test v1.2.3 (commit abc1234, built 2026-12-05T21:00:00Z, go"), line)
	assert.True(t, strings.HasSuffix(line, ", "+runtime.GOOS+"/"+runtime.GOARCH+")"), line)
	cmd.SetArgs([]string{"extra"})
	assert.Error(t, cmd.Execute(), "version takes no arguments")
}
