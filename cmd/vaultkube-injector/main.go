// Command vaultkube-injector is the admission webhook alone: the same `injector` command as
// `vaultkube injector`, in a binary that links neither the agent (consul-template) nor the
// CSI provider. Built with `-tags nokube` (make build, the image) it also leaves out
// client-go: it serves from certificate files (automatic TLS needs `vaultkube injector`) and
// reads the API server's version over plain HTTPS in a pod. `make bench` measures it.
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
