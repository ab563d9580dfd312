// Package csi is the Secrets Store CSI Driver provider: a gRPC server on a unix socket that
// mounts Vault secrets described by SecretProviderClass parameters.
package csi

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCmdProvider returns `vaultkube csi-provider`. The provider is not built yet.
func NewCmdProvider() *cobra.Command {
	return &cobra.Command{
		Use:   "csi-provider",
		Short: "Run the Secrets Store CSI Driver provider (not built yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("the CSI provider is not built yet: see the project's issues")
		},
	}
}
