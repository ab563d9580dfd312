// Package exitcode maps the errors of `kubectl vault` commands to process exit codes, as
// Vault's CLI uses them: 0 ok, 1 error, 2 not in the desired state, 3 refused.
package exitcode

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	OK       = 0
	Error    = 1
	NotReady = 2 // sealed, uninitialised, degraded
	Refused  = 3 // refused by a safety gate or declined by the user
)

// CodedError carries an exit code with an error.
type CodedError struct {
	Code int
	Err  error
}

func (e *CodedError) Error() string { return e.Err.Error() }
func (e *CodedError) Unwrap() error { return e.Err }

// Refusedf returns an error that exits with Refused.
func Refusedf(format string, args ...any) error {
	return &CodedError{Code: Refused, Err: fmt.Errorf(format, args...)}
}

// NotReadyf returns an error that exits with NotReady.
func NotReadyf(format string, args ...any) error {
	return &CodedError{Code: NotReady, Err: fmt.Errorf(format, args...)}
}

// Of maps an error returned by a command to the process exit code.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var ce *CodedError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return Error
}

// Is reports whether err carries the exit code code.
func Is(err error, code int) bool {
	var ce *CodedError
	return errors.As(err, &ce) && ce.Code == code
}
