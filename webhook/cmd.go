// Package webhook serves the mutating admission webhook that injects the vaultkube agent.
package webhook

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCmdInjector returns `vaultkube injector`.
func NewCmdInjector() *cobra.Command {
	return &cobra.Command{
		Use:   "injector",
		Short: "Run the mutating admission webhook (not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("the injector is not built yet")
		},
	}
}
