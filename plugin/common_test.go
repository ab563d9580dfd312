package plugin

import (
	"fmt"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func writeTokenFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(p, []byte(testToken+"\n"), 0o600))
	return p
}

// assertNoSecrets checks that no key or token of the fake cluster appears in any recorded
// exec argv nor in text (the command's stdout and stderr).
func assertNoSecrets(t *testing.T, fc *fakeCluster, text string) {
	t.Helper()
	secrets := append(testKeys(8), testToken)
	for _, v := range fc.vaults {
		secrets = append(secrets, v.Keys...)
	}
	for _, argv := range fc.argvs() {
		joined := strings.Join(argv, " ")
		for _, s := range secrets {
			require.NotContains(t, joined, s, "a secret appeared in exec argv %q", argv)
		}
	}
	for _, s := range secrets {
		require.NotContains(t, text, s, "a secret appeared in the output")
	}
}

// TestCommonFlagsContract enumerates the common flags: names and defaults are a compatibility
// contract, and every one is registered on the root command.
func TestCommonFlagsContract(t *testing.T) {
	want := map[string]string{
		"selector":              "app.kubernetes.io/name=vault,component=server",
		"container":             "vault",
		"vault-bin":             "vault",
		"vault-token-file":      "",
		"vault-ca-cert":         "",
		"vault-tls-server-name": "",
		"vault-skip-verify":     "false",
		"vault-data-dir":        "/vault/data",
		"color":                 "auto",
		"exec-timeout":          "30s",
	}
	root, g := newRoot(genericiooptions.NewTestIOStreamsDiscard(), nil)
	rows := commonFlags(g)
	got := map[string]string{}
	for _, r := range rows {
		got[r.Name] = r.def
		f := root.PersistentFlags().Lookup(r.Name)
		require.NotNil(t, f, "flag --%s not registered", r.Name)
		assert.Equal(t, r.def, f.DefValue, "--%s default", r.Name)
		assert.NotEmpty(t, r.Usage)
	}
	assert.Equal(t, want, got)
	for _, k := range []string{"kubeconfig", "context", "namespace", "server", "token", "user", "cluster"} {
		assert.NotNil(t, root.PersistentFlags().Lookup(k), "kubectl flag --%s", k)
	}
	assert.Equal(t, "n", root.PersistentFlags().Lookup("namespace").Shorthand)
}

func TestHelpReadsKubectlVault(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		usage string
	}{
		{[]string{"--help"}, "kubectl vault [command]"},
		{[]string{"status", "--help"}, "kubectl vault status [POD...] [flags]"},
		{[]string{"unseal", "--help"}, "kubectl vault unseal [POD...] [flags]"},
		{[]string{"snapshot", "save", "--help"}, "kubectl vault snapshot save FILE|- [flags]"},
		{[]string{"pivot", "--help"}, "kubectl vault pivot (--snapshot FILE"},
	} {
		out, _, code := run(t, healthy3(), "", tc.args...)
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "Usage:\n  "+tc.usage, tc.args)
	}
	out, _, _ := run(t, healthy3(), "", "--help")
	for _, sub := range []string{"status", "init", "unseal", "snapshot", "port-forward", "raft", "pivot", "completion", "version"} {
		assert.Contains(t, out, "  "+sub+" ")
	}
}

func TestResolvePod(t *testing.T) {
	fc := healthy3()
	pods := fc.pods
	for _, tc := range []struct{ arg, want, err string }{
		{"vault-1", "vault-1", ""},
		{"1", "vault-1", ""},
		{"0", "vault-0", ""},
		{"7", "", "pod not found"},
		{"vault", "", "pod not found"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			p, err := resolvePod(pods, tc.arg)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				assert.ErrorIs(t, err, ErrPodNotFound)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p.Name)
		})
	}
	// Without owner references, ordinals still match name suffixes.
	for i := range pods {
		pods[i].OwnerReferences = nil
	}
	p, err := resolvePod(pods, "2")
	require.NoError(t, err)
	assert.Equal(t, "vault-2", p.Name)
}

func TestExitCode(t *testing.T) {
	assert.Equal(t, 0, ExitCode(nil))
	assert.Equal(t, 1, ExitCode(assert.AnError))
	assert.Equal(t, 3, ExitCode(&CodedError{Code: 3, Err: assert.AnError}))
}

func TestTokenFile(t *testing.T) {
	g := &Globals{}
	tok, err := g.readToken()
	require.NoError(t, err)
	assert.Empty(t, tok)

	g.TokenFile = writeTokenFile(t)
	tok, err = g.readToken()
	require.NoError(t, err)
	assert.Equal(t, testToken, tok)

	p := filepath.Join(t.TempDir(), "two")
	require.NoError(t, os.WriteFile(p, []byte("a\nb\n"), 0o600))
	g.TokenFile = p
	_, err = g.readToken()
	assert.ErrorContains(t, err, "more than one line")
	assert.NotContains(t, err.Error(), "a\nb")

	g.TokenFile = "-"
	t.Setenv("VAULT_TOKEN", "")
	_, err = g.readToken()
	assert.ErrorContains(t, err, "VAULT_TOKEN")
	t.Setenv("VAULT_TOKEN", testToken)
	tok, err = g.readToken()
	require.NoError(t, err)
	assert.Equal(t, testToken, tok)
}

func TestVersionAndCompletion(t *testing.T) {
	out, _, code := run(t, healthy3(), "", "version")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "kubectl-vault")
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, _, code := run(t, healthy3(), "", "completion", sh)
		assert.Equal(t, 0, code, sh)
		assert.NotEmpty(t, out, sh)
	}
	_, _, code = run(t, healthy3(), "", "completion", "tcsh")
	assert.Equal(t, 1, code)
}

func TestPodNameCompletion(t *testing.T) {
	out, _, code := run(t, healthy3(), "", "__complete", "unseal", "vault-")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "vault-0\nvault-1\nvault-2\n")
	out, _, _ = run(t, healthy3(), "", "__complete", "unseal", "vault-0", "vault-")
	assert.NotContains(t, out, "vault-0\n")
	out, _, _ = run(t, healthy3(), "", "__complete", "port-forward", "")
	assert.Contains(t, out, "active\nstandby\nvault-0\n")
}

// TestCLIContract writes every command with its flags and defaults to a golden file: the
// whole command-line surface, so that a change to it is a visible, reviewed change.
func TestCLIContract(t *testing.T) {
	root, _ := newRoot(genericiooptions.NewTestIOStreamsDiscard(), nil)
	var b strings.Builder
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		fmt.Fprintf(&b, "%s\n", c.UseLine())
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			short := ""
			if f.Shorthand != "" {
				short = "-" + f.Shorthand + ", "
			}
			def := f.DefValue
			if home, err := os.UserHomeDir(); err == nil && home != "" {
				def = strings.ReplaceAll(def, home, "$HOME") // --cache-dir
			}
			fmt.Fprintf(&b, "    %s--%s %s (default %q)\n", short, f.Name, f.Value.Type(), def)
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	golden(t, "cli-contract.txt", b.String())
}
