// Command vaultkube-injector is the admission webhook alone: the same `injector` command as
// `vaultkube injector`, in a binary that links neither the agent (consul-template) nor the
// CSI provider, so that the webhook pod maps fewer pages (measured by `make bench`).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vaultkube/vaultkube/internal/version"
	"github.com/vaultkube/vaultkube/webhook"
)

func main() {
	root := &cobra.Command{
		Use:           "vaultkube-injector",
		Short:         "The vaultkube admission webhook (see `vaultkube-injector injector --help`)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(webhook.NewCmdInjector(), version.NewCmd("vaultkube-injector"))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
