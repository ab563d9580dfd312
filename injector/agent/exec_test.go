package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

func helperEnviron() []string { return append(os.Environ(), helperEnv+"=1") }

func TestSuperviseChildExitCode(t *testing.T) {
	for _, code := range []int{0, 1, 7, 255} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			got, err := superviseChild(helperArgv(t, "exit", strconv.Itoa(code)), helperEnviron(), execIO{}, nil, discardLogger())
			require.NoError(t, err)
			assert.Equal(t, code, got)
		})
	}
}

func TestSuperviseChildForwardsSignals(t *testing.T) {
	dir := t.TempDir()
	readyFile := filepath.Join(dir, "ready")
	sigs := make(chan os.Signal, 2)
	var out syncBuffer
	done := make(chan struct{})
	var code int
	var err error
	go func() {
		defer close(done)
		code, err = superviseChild(helperArgv(t, "trap", readyFile), helperEnviron(), execIO{Out: &out, Err: &out}, sigs, discardLogger())
	}()
	waitFor(t, 10*time.Second, "the child to install its signal handlers", func() bool {
		_, err := os.Stat(readyFile)
		return err == nil
	})
	sigs <- syscall.SIGUSR1
	waitFor(t, 5*time.Second, "SIGUSR1 to reach the child", func() bool { return strings.Contains(out.String(), "got SIGUSR1") })
	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not exit after SIGTERM")
	}
	require.NoError(t, err)
	assert.Equal(t, 42, code, "the child's own exit code after handling SIGTERM")
	assert.Contains(t, out.String(), "got SIGTERM")
}

func TestSuperviseChildKilledBySignal(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	done := make(chan int)
	go func() {
		code, err := superviseChild(helperArgv(t, "sleep"), helperEnviron(), execIO{}, sigs, discardLogger())
		assert.NoError(t, err)
		done <- code
	}()
	time.Sleep(200 * time.Millisecond)
	sigs <- syscall.SIGINT // not handled by the helper: the default action kills it
	select {
	case code := <-done:
		assert.Equal(t, 128+int(syscall.SIGINT), code)
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not die of SIGINT")
	}
}

func TestSuperviseChildStartFailure(t *testing.T) {
	_, err := superviseChild([]string{filepath.Join(t.TempDir(), "missing")}, nil, execIO{}, nil, discardLogger())
	assert.ErrorContains(t, err, "start ")
}

func TestExecCommandValidation(t *testing.T) {
	t.Setenv(agentconfig.EnvVar, `{"vault":{"address":"http://v:8200"},"auth":{"role":"r"},"mode":"exec",`+
		`"templates":[{"name":"db","defaultFormat":"ini","secretPath":"p","envPrefix":"DB_"}]}`)
	cmd := NewCmdAgentWithStreams(genericiooptions.NewTestIOStreamsDiscard())
	cmd.SetArgs([]string{"exec", "--", "/bin/true"})
	assert.ErrorContains(t, cmd.Execute(), `defaultFormat "ini"`)

	cmd = NewCmdAgentWithStreams(genericiooptions.NewTestIOStreamsDiscard())
	cmd.SetArgs([]string{"exec"})
	assert.ErrorContains(t, cmd.Execute(), "requires at least 1 arg")
}

func TestAgentCommandNeedsConfig(t *testing.T) {
	t.Setenv(agentconfig.EnvVar, "")
	cmd := NewCmdAgentWithStreams(genericiooptions.NewTestIOStreamsDiscard())
	cmd.SetArgs(nil)
	assert.ErrorContains(t, cmd.Execute(), agentconfig.EnvVar+" is empty")

	t.Setenv(agentconfig.EnvVar, `{"vault":{"address":"http://v:8200"},"auth":{"role":"r"},"mode":"exec"}`)
	cmd = NewCmdAgentWithStreams(genericiooptions.NewTestIOStreamsDiscard())
	cmd.SetArgs(nil)
	assert.ErrorContains(t, cmd.Execute(), "agent exec --")
}
