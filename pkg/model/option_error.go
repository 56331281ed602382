package model

import "fmt"

// OptionError is an option value the caller chose badly (a bit width out of
// range, a window longer than the model's positions), as opposed to a
// failure of the model, the data or the machine. Every ttq package reports
// bad options with it, so that a program can tell the two apart with
// errors.As (the ttq command exits 2 on it, 1 on anything else).
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// OptionErrorf formats an OptionError. Messages name the option as the
// command line and the reports spell it (--bits, --calib), so that the same
// words reach a Go caller and a shell user.
func OptionErrorf(format string, args ...any) error {
	return &OptionError{Err: fmt.Errorf(format, args...)}
}
