package plugin

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Defaults of the common flags: the pods as the official Vault Helm chart makes them.
const (
	DefaultSelector  = "app.kubernetes.io/name=vault,component=server"
	DefaultContainer = "vault"
	DefaultVaultBin  = "vault"
	DefaultDataDir   = "/vault/data"
)

// Globals holds the flags every subcommand shares, bound to the root command.
type Globals struct {
	ConfigFlags *genericclioptions.ConfigFlags

	Selector      string
	Container     string
	VaultBin      string
	TokenFile     string
	CACert        string
	TLSServerName string
	SkipVerify    bool
	DataDir       string
	Color         string
	ExecTimeout   time.Duration

	// NewCluster builds the cluster access; tests replace it with fakes.
	NewCluster func(g *Globals) (*Cluster, error)

	cluster *Cluster
}

// flagDef is one row of the common-flag table: the CLI's compatibility contract.
type flagDef struct {
	Name  string
	Usage string
	ptr   any // *string, *bool or *time.Duration
	def   string
}

// commonFlags is the table of the flags all subcommands share (besides kubectl's own).
func commonFlags(g *Globals) []flagDef {
	return []flagDef{
		{"selector", "label selector of the Vault server pods", &g.Selector, DefaultSelector},
		{"container", "name of the Vault container in the pods", &g.Container, DefaultContainer},
		{"vault-bin", "Vault CLI inside the container (bao for OpenBao)", &g.VaultBin, DefaultVaultBin},
		{"vault-token-file", "file holding a Vault token (sent on exec stdin, never in arguments); - reads VAULT_TOKEN", &g.TokenFile, ""},
		{"vault-ca-cert", "path inside the container of the CA certificate for Vault's TLS (default: the container's VAULT_CACERT)", &g.CACert, ""},
		{"vault-tls-server-name", "TLS server name to verify Vault's certificate against", &g.TLSServerName, ""},
		{"vault-skip-verify", "skip verification of Vault's TLS certificate (insecure)", &g.SkipVerify, "false"},
		{"vault-data-dir", "Vault's data volume inside the container (raft storage, snapshots in transit)", &g.DataDir, DefaultDataDir},
		{"color", "colour output: auto, always or never (NO_COLOR honoured by auto)", &g.Color, "auto"},
		{"exec-timeout", "timeout of each short exec into a pod", &g.ExecTimeout, "30s"},
	}
}

// addFlags registers kubectl's global flags and the common-flag table on fs.
func (g *Globals) addFlags(fs *pflag.FlagSet) {
	g.ConfigFlags.AddFlags(fs)
	for _, f := range commonFlags(g) {
		switch p := f.ptr.(type) {
		case *string:
			fs.StringVar(p, f.Name, f.def, f.Usage)
		case *bool:
			fs.BoolVar(p, f.Name, f.def == "true", f.Usage)
		case *time.Duration:
			d, err := time.ParseDuration(f.def)
			if err != nil {
				panic(fmt.Sprintf("flag %s: bad default %q", f.Name, f.def))
			}
			fs.DurationVar(p, f.Name, d, f.Usage)
		default:
			panic(fmt.Sprintf("flag %s: unsupported type %T", f.Name, f.ptr))
		}
	}
}

// Cluster returns the cluster access, built once.
func (g *Globals) Cluster() (*Cluster, error) {
	if g.cluster != nil {
		return g.cluster, nil
	}
	if g.NewCluster == nil {
		g.NewCluster = newKubeCluster
	}
	c, err := g.NewCluster(g)
	if err != nil {
		return nil, err
	}
	g.cluster = c
	return c, nil
}

// validate checks the common flags and prints the skip-verify warning.
func (g *Globals) validate(streams genericiooptions.IOStreams) error {
	switch g.Color {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("--color must be auto, always or never, not %q", g.Color)
	}
	if g.ExecTimeout <= 0 {
		return fmt.Errorf("--exec-timeout must be positive")
	}
	if strings.TrimSpace(g.VaultBin) == "" {
		return fmt.Errorf("--vault-bin must not be empty")
	}
	if g.SkipVerify {
		fmt.Fprintln(streams.ErrOut, "Warning: --vault-skip-verify disables TLS verification of Vault; use --vault-ca-cert instead.")
	}
	return nil
}

// readToken reads the Vault token from --vault-token-file (or VAULT_TOKEN with "-").
// The token stays in memory: it only ever travels on an exec's stdin.
func (g *Globals) readToken() (string, error) {
	return readTokenFile("--vault-token-file", g.TokenFile)
}

// readTokenFile reads a token from file, named by flag in errors ("-" reads VAULT_TOKEN);
// "" when file is "".
func readTokenFile(flag, file string) (string, error) {
	if file == "" {
		return "", nil
	}
	if file == "-" {
		t := os.Getenv("VAULT_TOKEN")
		if t == "" {
			return "", fmt.Errorf("%s - reads VAULT_TOKEN, which is empty", flag)
		}
		return t, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", flag, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s %s is empty", flag, file)
	}
	if strings.ContainsAny(t, "\r\n") {
		return "", fmt.Errorf("%s %s holds more than one line; it must hold only the token", flag, file)
	}
	return t, nil
}

// requireToken is readToken that fails when no token is available.
func (g *Globals) requireToken(what string) (string, error) {
	t, err := g.readToken()
	if err != nil {
		return "", err
	}
	if t == "" {
		return "", &CodedError{Code: ExitError, Err: fmt.Errorf("%s needs a Vault token: pass --vault-token-file FILE (or --vault-token-file - to read VAULT_TOKEN)", what)}
	}
	return t, nil
}

// outputFlag adds -o/--output with the given allowed values.
func outputFlag(cmd *cobra.Command, p *string, def string, allowed ...string) {
	cmd.Flags().StringVarP(p, "output", "o", def, "output format: "+strings.Join(allowed, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
}

func checkOutput(o string, allowed ...string) error {
	for _, a := range allowed {
		if o == a {
			return nil
		}
	}
	return fmt.Errorf("--output must be one of %s, not %q", strings.Join(allowed, ", "), o)
}
