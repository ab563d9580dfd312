package plugin

import "github.com/vaultkube/vaultkube/plugin/internal/exitcode"

// Exit codes, as Vault's CLI uses them.
const (
	ExitOK       = exitcode.OK
	ExitError    = exitcode.Error
	ExitNotReady = exitcode.NotReady // sealed, uninitialised, degraded
	ExitRefused  = exitcode.Refused  // refused by a safety gate or declined by the user
)

// CodedError carries an exit code with an error.
type CodedError = exitcode.CodedError

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int { return exitcode.Of(err) }
