// Command vaultkube-agent is the agent alone: `vaultkube agent …` without the injector's and
// the CSI provider's Kubernetes client libraries, for a smaller image and a smaller agent.
// Its command line is the same as the full binary's, so that `agent install` can put it in
// place as DIR/vaultkube.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vaultkube/vaultkube/injector/agent"
	"github.com/vaultkube/vaultkube/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "vaultkube",
		Short:         "The vaultkube agent: log in to Vault, render secrets, keep them fresh",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(agent.NewCmdAgent(), version.NewCmd("vaultkube-agent"))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
