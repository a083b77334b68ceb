package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// Run runs the mtlsgate client command in args (the command line without
// the program name) and returns the process exit code: 0 on success, 1 when
// the command failed, 2 for a usage error. env looks up environment
// variables (os.Getenv in production). Results go to stdout; a failure is
// reported as exactly one line on stderr. Run does not handle "serve": the
// caller dispatches it before calling Run.
func Run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	r := &runner{env: env, stdin: stdin, stdout: stdout, stderr: stderr,
		now: time.Now, readFile: os.ReadFile, dial: dialAPI, buildInfo: debug.ReadBuildInfo}
	return r.main(ctx, args)
}

// runner is Run with its dependencies injectable by tests.
type runner struct {
	env            func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	now            func() time.Time
	readFile       func(string) ([]byte, error)
	dial           func(t transport, token string) (pb.CertificateManagerServiceClient, io.Closer, error)
	buildInfo      func() (*debug.BuildInfo, bool) // nil: debug.ReadBuildInfo
	server         string                          // resolved address, for error messages
}

// main runs args and turns the outcome into output and an exit code.
func (r *runner) main(ctx context.Context, args []string) int {
	err := r.run(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		fmt.Fprint(r.stdout, helpText(args))
		return 0
	}
	fmt.Fprintln(r.stderr, errorLine(err, r.server))
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// run parses the command line and runs the command.
func (r *runner) run(ctx context.Context, args []string) error {
	if helpRequested(args) {
		return errHelp
	}
	g := &globals{}
	cmd, rest, err := findCommand(newTopFlagSet(g), args)
	if err != nil {
		return err
	}
	fs := newFlagSet(cmd.path)
	g.register(fs)
	act := cmd.setup(fs)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return commandError(cmd, err, true)
	}
	if err := cmd.checkArgs(pos); err != nil {
		return err
	}
	cfg, err := g.resolve(r.env, cmd.isLocal())
	if err != nil {
		return err
	}
	r.server = cfg.server
	s := &session{r: r, cfg: cfg, g: g}
	defer s.close()
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	return commandError(cmd, act(ctx, s, pos), false)
}

// commandError prefixes a usage error with the command it is about and,
// with synopsis set, appends the command's synopsis.
func commandError(cmd *command, err error, synopsis bool) error {
	ue, ok := err.(*usageError)
	switch {
	case !ok:
		return err
	case synopsis:
		return usagef("%s: %s (usage: mtlsgate %s)", cmd.path, ue.msg, cmd.synopsis())
	}
	return usagef("%s: %s", cmd.path, ue.msg)
}

// session is one running command: its settings and, once needed, its API
// connection.
type session struct {
	r      *runner
	cfg    config
	g      *globals
	client pb.CertificateManagerServiceClient
	conn   io.Closer
}

// api returns the API client, finding the token and connecting on first
// use, so that command-line mistakes are reported before a missing token.
func (s *session) api() (pb.CertificateManagerServiceClient, error) {
	if s.client != nil {
		return s.client, nil
	}
	token, err := resolveToken(s.g, s.r.env, s.r.readFile)
	if err != nil {
		return nil, err
	}
	t := transport{addr: s.cfg.server}
	if !s.cfg.plaintext {
		if t.caPEM, _, err = resolveCA(s.g, s.r.env, s.r.readFile); err != nil {
			return nil, err
		}
	}
	c, conn, err := s.r.dial(t, token)
	if err != nil {
		return nil, err
	}
	s.client, s.conn = c, conn
	return c, nil
}

// close closes the API connection, if any.
func (s *session) close() {
	if s.conn != nil {
		s.conn.Close()
	}
}

// load reads a file named on the command line; "-" reads stdin.
func (s *session) load(path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(s.r.stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return b, nil
	}
	return s.r.readFile(path)
}

// now is the time derived facts (expiry, staleness) are judged at.
func (s *session) now() time.Time { return s.r.now() }

// print writes m as JSON with -o json, what it names with -o id (see
// writeIDs), else with table.
func (s *session) print(m proto.Message, table func(io.Writer) error) error {
	switch s.cfg.output {
	case "json":
		return writeJSON(s.r.stdout, m)
	case "id":
		return writeIDs(s.r.stdout, m)
	}
	return table(s.r.stdout)
}

// printNamed is print for a message that does not carry the name of what
// it is about (a site's settings, a delete's empty answer): -o id prints
// name.
func (s *session) printNamed(m proto.Message, name string, table func(io.Writer) error) error {
	if s.cfg.output == "id" {
		_, err := fmt.Fprintln(s.r.stdout, name)
		return err
	}
	return s.print(m, table)
}

// printFields prints m as JSON with -o json, else as key: value lines.
func (s *session) printFields(m proto.Message, fields []field) error {
	return s.print(m, func(w io.Writer) error { return writeFields(w, fields) })
}

// printDone prints what a delete answered: m as JSON with -o json, the
// name of what was deleted with -o id, else the sentence done.
func (s *session) printDone(m proto.Message, name, done string) error {
	return s.printNamed(m, name, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, done)
		return err
	})
}

// refuseOutput returns a usage error when the -o format given is one the
// command cannot print; commands call it before they do anything.
func (s *session) refuseOutput(why string, formats ...string) error {
	for _, f := range formats {
		if s.cfg.output == f {
			return usagef("-o %s is not supported: %s", f, why)
		}
	}
	return nil
}
