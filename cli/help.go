package cli

import (
	"flag"
	"fmt"
	"strings"
)

// helpText is what --help prints for args: the help of the command they
// name, else the whole usage.
func helpText(args []string) string {
	var rest []string
	for _, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-h", "--h", "-help", "--help":
		default:
			rest = append(rest, a)
		}
	}
	cmd, _, err := findCommand(newTopFlagSet(&globals{}), rest)
	if err != nil {
		return usageText()
	}
	return commandHelp(cmd)
}

// commandHelp is one command's help: its synopsis, what it does, and the
// flags of its own (the global ones are in the usage).
func commandHelp(cmd *command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: mtlsgate %s\n\n%s.\n", cmd.synopsis(), capitalize(cmd.summary))
	fs := newFlagSet(cmd.path)
	cmd.setup(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if n++; n == 1 {
			b.WriteString("\nFlags:\n")
		}
		kind, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if kind != "" {
			fmt.Fprintf(&b, " %s", strings.ToUpper(kind))
		}
		fmt.Fprintf(&b, "\n        %s", usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteByte('\n')
	})
	if cmd.isLocal() {
		b.WriteString("\nGlobal flags (-o, --timeout; this command calls no server): mtlsgate help.\n")
	} else {
		b.WriteString("\nGlobal flags (--server, --token, --token-file, --ca-file, -o, --timeout): mtlsgate help.\n")
	}
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
