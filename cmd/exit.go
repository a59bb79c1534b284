package cmd

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes, compatible with grpcurl's.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitStatusBase is added to the gRPC status code of a failed call.
	exitStatusBase = 64
)

// exitError carries an exit code chosen by a verb. reported means the verb
// has already told the user (a call's status, printed with its details).
type exitError struct {
	code     int
	err      error
	reported bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks misuse of the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(err error) error { return &usageError{err} }

// runError marks errors returned by a verb's run function, so that Main can
// tell them from cobra's own flag and argument errors, which are misuse.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitCode maps an error to grpcx's exit code, in one place.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var re *runError
	if !errors.As(err, &re) {
		return exitUsage
	}
	// A failed call's status has been turned into an exitError by the verb;
	// a status met on the way (from reflection, say) means the call never
	// happened, which is a plain failure, unless the deadline ran out.
	if errors.Is(re.err, context.DeadlineExceeded) || errors.Is(re.err, errMaxTime) || status.Code(unwrapStatus(re.err)) == codes.DeadlineExceeded {
		return exitStatusBase + int(codes.DeadlineExceeded)
	}
	// Ctrl-C or SIGTERM before the call started (while connecting, or
	// asking reflection) is the same Canceled as during it.
	if errors.Is(re.err, context.Canceled) || status.Code(unwrapStatus(re.err)) == codes.Canceled {
		return exitStatusBase + int(codes.Canceled)
	}
	return exitFailure
}
