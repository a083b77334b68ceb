package store

import (
	"errors"
	"fmt"
)

// Error classes a caller decides on. Every error a Store method returns for
// a refused write wraps exactly one of them; the API maps them to status
// codes.
var (
	// ErrInvalid: the input is malformed or breaks a domain rule.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: a named object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the object (or an equal one) already exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrFailedPrecondition: the write is valid but the current state
	// forbids it (deleting an assigned CA, revoking the last admin token).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrLimit: the write would exceed a configured limit.
	ErrLimit = errors.New("limit exceeded")
)

// ValidationError says which field of an input is wrong and why. It wraps
// ErrInvalid and the underlying cause (for example a pki error), so both
// errors.Is(err, ErrInvalid) and errors.Is(err, pki.ErrNotCA) hold.
type ValidationError struct {
	Field string
	Err   error
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns both the class and the cause.
func (e *ValidationError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// invalid builds a ValidationError for field from a cause or a message.
func invalid(field string, format string, args ...any) error {
	return &ValidationError{Field: field, Err: fmt.Errorf(format, args...)}
}

func notFound(kind, id string) error {
	return fmt.Errorf("%w: %s %q", ErrNotFound, kind, id)
}
