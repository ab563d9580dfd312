// Package agent is the in-pod agent: it logs in to Vault, renders templates and keeps tokens
// and leases renewed.
package agent

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCmdAgent returns `vaultkube agent`.
func NewCmdAgent() *cobra.Command {
	return &cobra.Command{
		Use:   "agent",
		Short: "Run the vaultkube agent (not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("the agent is not built yet")
		},
	}
}
