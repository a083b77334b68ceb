package cli

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Defaults of the global flags.
const (
	defaultServer  = "127.0.0.1:9000"
	defaultOutput  = "table"
	defaultTimeout = 30 * time.Second
)

// Environment variables read for the global flags; a flag beats its variable.
const (
	envServer    = "MTLSGATE_SERVER"
	envToken     = "MTLSGATE_TOKEN"
	envTokenFile = "MTLSGATE_TOKEN_FILE"
	envCAFile    = "MTLSGATE_CA_FILE"
	envData      = "MTLSGATE_DATA"
)

// stringList is a repeatable string flag.
type stringList []string

// String joins the values with commas.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends one value.
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// optString is a string flag that remembers whether it was given.
type optString struct {
	val string
	set bool
}

// String returns the value.
func (o *optString) String() string { return o.val }

// Set records the value as given.
func (o *optString) Set(v string) error { o.val, o.set = v, true; return nil }

// optBool is a boolean flag that remembers whether it was given; it
// needs a value (--flag=true), so that leaving it out changes nothing.
type optBool struct {
	v, set bool
}

// String returns the value.
func (o *optBool) String() string { return strconv.FormatBool(o.v) }

// Set parses true or false and records it as given.
func (o *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false, got %q", s)
	}
	o.v, o.set = v, true
	return nil
}

// optDuration is a duration flag that remembers whether it was given.
type optDuration struct {
	val time.Duration
	set bool
}

// String returns the value.
func (o *optDuration) String() string { return o.val.String() }

// Set parses a duration such as "5s" and records it as given.
func (o *optDuration) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	o.val, o.set = d, true
	return nil
}

// globals holds the global flags. They are registered in every FlagSet of a
// command line, so they may appear before or after the command words.
type globals struct {
	server, token, tokenFile, caFile, output optString
	timeout                                  optDuration
}

// register adds the global flags to fs.
func (g *globals) register(fs *flag.FlagSet) {
	fs.Var(&g.server, "server", "admin API address")
	fs.Var(&g.token, "token", "API token")
	fs.Var(&g.tokenFile, "token-file", "file holding the API token")
	fs.Var(&g.caFile, "ca-file", "CA certificate the server is verified by")
	fs.Var(&g.output, "o", "output format")
	fs.Var(&g.output, "output", "output format")
	fs.Var(&g.timeout, "timeout", "deadline of the whole command")
}

// newTopFlagSet is the FlagSet of the words before the command: the
// global flags, and --version (which stands for the version command).
func newTopFlagSet(g *globals) *flag.FlagSet {
	fs := newFlagSet("mtlsgate")
	g.register(fs)
	fs.Bool("version", false, "print the version")
	return fs
}

// versionFlag reports whether --version was given to fs.
func versionFlag(fs *flag.FlagSet) bool {
	f := fs.Lookup("version")
	return f != nil && f.Value.String() == "true"
}

// newFlagSet returns a silent FlagSet; Run reports errors itself.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// helpRequested reports whether -h or --help appears before any "--".
func helpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "--h", "-help", "--help":
			return true
		}
	}
	return false
}

// isFlagArg reports whether a looks like a flag; "-" alone names stdin.
func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

// parseInterspersed parses args against fs, allowing flags before, between
// and after positional arguments, and returns the positional arguments.
// Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		a := args[0]
		switch {
		case a == "--":
			return append(pos, args[1:]...), nil
		case isFlagArg(a):
			n, err := setFlag(fs, args)
			if err != nil {
				return nil, err
			}
			args = args[n:]
		default:
			pos = append(pos, a)
			args = args[1:]
		}
	}
	return pos, nil
}

// nextWord parses flags from args up to the first positional argument and
// returns that word ("" when there is none) and the arguments after it.
func nextWord(fs *flag.FlagSet, args []string) (string, []string, error) {
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if !isFlagArg(a) {
			return a, args[1:], nil
		}
		n, err := setFlag(fs, args)
		if err != nil {
			return "", nil, err
		}
		args = args[n:]
	}
	if len(args) == 0 {
		return "", nil, nil
	}
	return args[0], args[1:], nil
}

// setFlag sets the flag args[0] (taking its value from args[1] when needed)
// and returns how many arguments it used.
func setFlag(fs *flag.FlagSet, args []string) (int, error) {
	name := strings.TrimPrefix(args[0][1:], "-")
	if name == "" || name[0] == '-' || name[0] == '=' {
		return 0, usagef("bad flag syntax: %s", args[0])
	}
	name, value, hasValue := strings.Cut(name, "=")
	f := fs.Lookup(name)
	if f == nil {
		if name == "h" || name == "help" {
			return 0, errHelp
		}
		return 0, usagef("unknown flag --%s", name)
	}
	n := 1
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		if !hasValue {
			value = "true"
		}
	} else if !hasValue {
		if len(args) < 2 {
			return 0, usagef("flag --%s needs a value", name)
		}
		value, n = args[1], 2
	}
	if err := fs.Set(name, value); err != nil {
		return 0, usagef("invalid value %q for flag --%s: %v", value, name, err)
	}
	return n, nil
}
