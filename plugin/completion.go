package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewCmdCompletion returns `kubectl vault completion bash|zsh|fish`.
func NewCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script for kubectl-vault.

kubectl (1.26 and later) completes plugins through a kubectl_complete-vault executable on
the PATH; one ships beside kubectl-vault. To complete the kubectl-vault binary itself:

  source <(kubectl-vault completion bash)
  kubectl-vault completion zsh > "${fpath[1]}/_kubectl-vault"
  kubectl-vault completion fish > ~/.config/fish/completions/kubectl-vault.fish`,
		Args:                  cobra.ExactArgs(1),
		ValidArgs:             []string{"bash", "zsh", "fish"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(streams.Out, true)
			case "zsh":
				return root.GenZshCompletion(streams.Out)
			case "fish":
				return root.GenFishCompletion(streams.Out, true)
			}
			return fmt.Errorf("unsupported shell %q: use bash, zsh or fish", args[0])
		},
	}
}

// completePods completes Vault pod names (full names) from the cluster.
func completePods(g *Globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names := podCompletions(cmd.Context(), g, args, toComplete)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func podCompletions(ctx context.Context, g *Globals, exclude []string, prefix string) []string {
	c, err := g.Cluster()
	if err != nil {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pods, err := c.Pods.ListPods(ctx)
	if err != nil {
		return nil
	}
	sortPods(pods)
	skip := map[string]bool{}
	for _, a := range exclude {
		skip[a] = true
	}
	var out []string
	for _, p := range pods {
		if !skip[p.Name] && strings.HasPrefix(p.Name, prefix) {
			out = append(out, p.Name)
		}
	}
	return out
}
