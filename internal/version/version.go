// Package version holds the build's version information, set at link time with -ldflags -X.
package version

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// Set with -ldflags "-X github.com/vaultkube/vaultkube/internal/version.Version=...".
var (
	Version = "v0.0.0-dev"
	Commit  = "unknown"
	// Date is when the build's sources were committed (or $SOURCE_DATE_EPOCH), in RFC 3339,
	// so that the same commit always builds the same binary (`make image`, `make release`).
	Date = "unknown"
)

// String is the one-line version shown by `vaultkube version` and `kubectl vault version`.
func String(binary string) string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s, %s/%s)", binary, Version, Commit, Date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// NewCmd returns the `version` subcommand that every vaultkube binary has.
func NewCmd(binary string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), String(binary))
		},
	}
}
