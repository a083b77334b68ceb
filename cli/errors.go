package cli

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errHelp asks Run to print the usage text and exit 0.
var errHelp = errors.New("help requested")

// usageError is a mistake in the command line; Run exits 2 for it.
type usageError struct{ msg string }

// Error returns the message.
func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError with a formatted message.
func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// noteError adds a note to an error without hiding its gRPC status.
type noteError struct {
	err  error
	note string
}

// Error returns the error followed by the note in parentheses.
func (e *noteError) Error() string { return e.err.Error() + " (" + e.note + ")" }

// Unwrap returns the annotated error.
func (e *noteError) Unwrap() error { return e.err }

// codePrefixes is how each gRPC code is introduced on the error line.
var codePrefixes = map[codes.Code]string{
	codes.Canceled:           "canceled",
	codes.Unknown:            "server error",
	codes.InvalidArgument:    "invalid",
	codes.DeadlineExceeded:   "timed out",
	codes.NotFound:           "not found",
	codes.AlreadyExists:      "already exists",
	codes.PermissionDenied:   "permission denied",
	codes.ResourceExhausted:  "resource exhausted",
	codes.FailedPrecondition: "failed precondition",
	codes.Aborted:            "aborted",
	codes.OutOfRange:         "out of range",
	codes.Unimplemented:      "not implemented by the server",
	codes.Internal:           "internal server error",
	codes.Unavailable:        "unavailable",
	codes.DataLoss:           "data loss",
	codes.Unauthenticated:    "unauthenticated",
}

// errorLine is the single stderr line reporting err; server is the address
// the command talked to.
func errorLine(err error, server string) string {
	return "mtlsgate: " + oneLine(describe(err, server))
}

// describe explains err, turning gRPC statuses into readable text.
func describe(err error, server string) string {
	if n, ok := err.(*noteError); ok {
		return describe(n.err, server) + " (" + n.note + ")"
	}
	if se, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		return statusText(se.GRPCStatus(), server)
	}
	return err.Error()
}

// statusText renders a gRPC status as "<prefix>: <message>".
func statusText(st *status.Status, server string) string {
	msg := st.Message()
	if st.Code() == codes.Unavailable && isTransportFailure(msg) {
		return "cannot reach server at " + server + ": " + transportCause(msg)
	}
	if strings.Contains(msg, "unexpected HTTP status code") {
		return "server at " + server + " does not answer gRPC (is it the admin address?): " + msg
	}
	prefix, ok := codePrefixes[st.Code()]
	if !ok {
		prefix = strings.ToLower(st.Code().String())
	}
	if st.Code() == codes.Unauthenticated {
		msg += " (check the API token)"
	}
	if msg == "" {
		return prefix
	}
	return prefix + ": " + msg
}

// isTransportFailure tells a connection failure reported by the gRPC client
// from an Unavailable status returned by the server itself.
func isTransportFailure(msg string) bool {
	for _, s := range []string{"connection error", "transport:", "dial", "connection refused", "no such host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transportCause keeps the innermost cause of a gRPC connection error, e.g.
// "connection refused" out of `connection error: desc = "transport: Error
// while dialing: dial tcp 127.0.0.1:9000: connect: connection refused"`.
func transportCause(msg string) string {
	msg = strings.TrimRight(msg, `"`)
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return strings.Trim(msg, `" `)
}

// oneLine folds a possibly multi-line message onto one line.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
