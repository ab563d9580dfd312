// Package plugin implements `kubectl vault`: operations on the Vault server pods of a
// Helm-deployed Vault, through exec into the pods.
package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/vaultkube/vaultkube/internal/version"
)

// NewCmdVault returns the root `kubectl vault` command.
func NewCmdVault(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubectl vault",
		Short:         "Operate the Vault server pods of a Helm-deployed Vault",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(streams.Out, version.String("kubectl-vault"))
		},
	})
	return root
}
