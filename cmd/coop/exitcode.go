package main

import "fmt"

// exitError makes the process exit with code instead of 1. err, if not
// nil, is printed as usual; a nil err prints nothing (the command already
// said what happened).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit code %d", e.code)
	}
	return e.err.Error()
}

// Unwrap returns the cause.
func (e *exitError) Unwrap() error { return e.err }
