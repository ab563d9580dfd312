// Command vaultkube is the in-cluster binary: injector, agent, CSI provider.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vaultkube/vaultkube/csi"
	"github.com/vaultkube/vaultkube/injector/agent"
	"github.com/vaultkube/vaultkube/internal/version"
	"github.com/vaultkube/vaultkube/webhook"
)

func main() {
	root := &cobra.Command{
		Use:           "vaultkube",
		Short:         "Vault on Kubernetes: injector, agent and CSI provider",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(webhook.NewCmdInjector(), agent.NewCmdAgent(), csi.NewCmdProvider(), version.NewCmd("vaultkube"))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
