package plugin

import "errors"

// Exit codes, as Vault's CLI uses them.
const (
	ExitOK       = 0
	ExitError    = 1
	ExitNotReady = 2 // sealed, uninitialised, degraded
	ExitRefused  = 3 // refused by a safety gate or declined by the user
)

// CodedError carries an exit code with an error.
type CodedError struct {
	Code int
	Err  error
}

func (e *CodedError) Error() string { return e.Err.Error() }
func (e *CodedError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce *CodedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ExitError
}
