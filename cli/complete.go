package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	pb "github.com/mtlsgate/mtlsgate/proto/mtlsgate/v1"
)

// completionCmd is "completion bash|zsh|fish": a completion script made
// from the command table (words, flags, the values of enum flags and of
// site set keys), so it follows the binary it came from.
func completionCmd(*flag.FlagSet) action {
	return func(_ context.Context, s *session, args []string) error {
		if err := s.refuseOutput("the output is a shell script", "json", "id"); err != nil {
			return err
		}
		write, ok := completionWriters[args[0]]
		if !ok {
			return usagef("unknown shell %q: want bash, zsh or fish", args[0])
		}
		return write(s.r.stdout, buildCompletion())
	}
}

// completionWriters writes each shell's script.
var completionWriters = map[string]func(io.Writer, compSpec) error{
	"bash": writeBashCompletion,
	"zsh":  writeZshCompletion,
	"fish": writeFishCompletion,
}

// compFlag is one flag as completion sees it.
type compFlag struct {
	name    string   // without dashes
	value   bool     // takes a value (not a bool flag)
	choices []string // its values, when they are a fixed set
	usage   string
}

// dashed is how the flag is offered: -o, --name.
func (f compFlag) dashed() string {
	if len(f.name) == 1 {
		return "-" + f.name
	}
	return "--" + f.name
}

// compWord is a word that may follow parent ("" at the start).
type compWord struct {
	parent, word, summary string
}

// compCommand is one command as completion sees it.
type compCommand struct {
	path  string
	flags []compFlag // its own flags; the global ones are in compSpec
	// args complete the positional arguments from argFrom (after that
	// many others) to argTo (excluded; -1: no end).
	args           []string
	argFrom, argTo int
	// keyValues are the values of KEY=VALUE arguments, by "KEY=".
	keyValues map[string][]string
}

// compSpec is everything a completion script knows.
type compSpec struct {
	words    []compWord
	commands []compCommand
	global   []compFlag // every command's, and the top level's
	top      []compFlag // before any command only (--version)
}

// serverWords are the commands main runs itself: completed as words only
// (their flags are serve's, mtlsgate serve --help lists them).
var serverWords = []compWord{
	{"", "serve", "run the server (mtlsgate serve --help: its flags)"},
	{"", "recover-admin", "write a new admin token into a stopped server's data directory"},
	{"", "keys", "rotate or show the keyring sealing private keys (server stopped)"},
	{"keys", "rotate", "rotate the keyring (server stopped)"},
	{"keys", "status", "show the keyring (server stopped)"},
	{"", "restore", "write a backup into a new store (server stopped)"},
}

// flagChoices are the values of command flags that take one of a fixed
// set, by "PATH --FLAG".
var flagChoices = map[string]func() []string{
	"site put --mode":     enumChoices[pb.Mode],
	"token create --role": enumChoices[pb.Role],
	"ca set --ocsp-nonce": func() []string { return []string{"true", "false"} },
}

// outputFormats are the values of -o.
var outputFormats = []string{"table", "json", "id"}

// buildCompletion reads the command table into a compSpec.
func buildCompletion() compSpec {
	var sp compSpec
	sp.words = commandWords()
	g := newFlagSet("global")
	(&globals{}).register(g)
	sp.global = flagsOf(g, nil, func(string) []string { return nil })
	sp.global = append(sp.global, compFlag{name: "help", usage: "show help"})
	sp.top = []compFlag{{name: "version", usage: "print the version"}}
	for _, c := range commands {
		cc := compCommand{path: c.path, argTo: c.max}
		fs := newFlagSet(c.path)
		c.setup(fs)
		cc.flags = flagsOf(fs, g, func(name string) []string {
			if f := flagChoices[c.path+" --"+name]; f != nil {
				return f()
			}
			return nil
		})
		positionalChoices(&cc, sp.words)
		sp.commands = append(sp.commands, cc)
	}
	return sp
}

// commandWords lists the words of every command: groups and single
// commands after "", subcommands after their group; then help and the
// server's commands.
func commandWords() []compWord {
	var words []compWord
	seen := map[string]bool{}
	for _, c := range commands {
		group, sub, isSub := strings.Cut(c.path, " ")
		if !seen[group] {
			seen[group] = true
			summary := c.summary
			if isSub {
				summary = "commands: " + strings.Join(subcommands(group), ", ")
			}
			words = append(words, compWord{"", group, summary})
		}
		if isSub {
			words = append(words, compWord{group, sub, c.summary})
		}
	}
	words = append(words, compWord{"", "help", "show the usage of every command"})
	return append(words, serverWords...)
}

// flagsOf lists the flags of fs that are not in skip, with their choices.
func flagsOf(fs, skip *flag.FlagSet, choices func(name string) []string) []compFlag {
	var out []compFlag
	fs.VisitAll(func(f *flag.Flag) {
		if skip != nil && skip.Lookup(f.Name) != nil {
			return
		}
		bf, isBool := f.Value.(interface{ IsBoolFlag() bool })
		cf := compFlag{name: f.Name, value: !isBool || !bf.IsBoolFlag(), choices: choices(f.Name), usage: f.Usage}
		if f.Name == "o" || f.Name == "output" {
			cf.choices = outputFormats
		}
		out = append(out, cf)
	})
	return out
}

// positionalChoices fills in the positional arguments that take a fixed
// set of values: completion's shell, help's command, site set's keys.
func positionalChoices(cc *compCommand, words []compWord) {
	switch cc.path {
	case "completion":
		cc.args = slices.Sorted(maps.Keys(completionWriters))
	case "cert ca":
		cc.args = []string{"create", "show"}
	case "site set":
		cc.argFrom, cc.keyValues = 1, map[string][]string{}
		for _, k := range settingKeys {
			cc.args = append(cc.args, k.key+"=")
			cc.keyValues[k.key+"="] = fixedValues(k.allowed)
		}
		for _, f := range headerFields {
			cc.args = append(cc.args, headersKey+"."+f+"=")
		}
	}
}

// fixedValues splits a settingKey's allowed text into its values when it
// is a list such as "off|leaf|chain"; nil when it describes free text.
func fixedValues(allowed string) []string {
	if strings.ContainsAny(allowed, " ()@") || !strings.Contains(allowed, "|") {
		return nil
	}
	return strings.Split(allowed, "|")
}

// shellWord is s when it is safe unquoted in every shell's script (the
// generated scripts put words inside single quotes, never anything a
// command table could turn into code), else an error.
func shellWord(s string) (string, error) {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.=/ |", r)) {
			return "", fmt.Errorf("completion: %q cannot be put in a script", s)
		}
	}
	return s, nil
}
