// Package plugin implements `kubectl vault`: operations on the Vault server pods of a
// Helm-deployed Vault, through exec into the pods.
package plugin

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/internal/version"
)

// NewCmdVault returns the root `kubectl vault` command.
func NewCmdVault(streams genericiooptions.IOStreams) *cobra.Command {
	cmd, _ := newRoot(streams, nil)
	return cmd
}

// newRoot builds the command tree; newCluster replaces the client-go cluster access in tests.
func newRoot(streams genericiooptions.IOStreams, newCluster func(*Globals) (*Cluster, error)) (*cobra.Command, *Globals) {
	g := &Globals{ConfigFlags: genericclioptions.NewConfigFlags(true), NewCluster: newCluster}
	root := &cobra.Command{
		// The binary is kubectl-vault; help and usage read "kubectl vault ...".
		Use:         "kubectl-vault",
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl vault"},
		Short:       "Operate the Vault server pods of a Helm-deployed Vault",
		Long: `kubectl vault operates the Vault server pods of a Helm-deployed Vault through exec:
status, init, unseal, snapshots, port-forward and raft recovery.

Unseal keys and tokens travel on the exec's stdin, never in its arguments (which the
API server's audit log records). Exit codes: 0 ok, 1 error, 2 not in the desired state
(sealed, uninitialised, degraded), 3 refused by a safety gate or declined.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			ctx, _ := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			cmd.SetContext(ctx)
		},
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetContext(context.Background())
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetIn(streams.In)
	g.addFlags(root.PersistentFlags())
	root.AddCommand(
		NewCmdStatus(g, streams),
		NewCmdInit(g, streams),
		NewCmdUnseal(g, streams),
		NewCmdSnapshot(g, streams),
		NewCmdPortForward(g, streams),
		NewCmdRaft(g, streams),
		NewCmdPivot(g, streams),
		NewCmdCompletion(streams),
		version.NewCmd("kubectl-vault"),
	)
	return root, g
}
