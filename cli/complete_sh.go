package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// script builds a completion script. Words from the command table go in
// single quotes through q, which refuses any word that is not plain.
type script struct {
	strings.Builder
	err error
}

// q quotes words joined by spaces; an unsafe word sets s.err.
func (s *script) q(words ...string) string {
	for _, w := range words {
		if _, err := shellWord(w); err != nil && s.err == nil {
			s.err = err
		}
	}
	return "'" + strings.Join(words, " ") + "'"
}

// line writes one formatted line.
func (s *script) line(format string, a ...any) { fmt.Fprintf(s, format+"\n", a...) }

// writeTo writes the script to w unless a word was refused.
func (s *script) writeTo(w io.Writer) error {
	if s.err != nil {
		return s.err
	}
	_, err := io.WriteString(w, s.String())
	return err
}

// parents lists, in order, the words that have words after them ("" first).
func parents(words []compWord) []string {
	var out []string
	for _, w := range words {
		if !slices.Contains(out, w.parent) {
			out = append(out, w.parent)
		}
	}
	return out
}

// children lists the words that may follow parent.
func children(words []compWord, parent string) []string {
	var out []string
	for _, w := range words {
		if w.parent == parent {
			out = append(out, w.word)
		}
	}
	return out
}

// dashedNames lists the flags as offered (-o, --name), those taking a
// value only when onlyValue.
func dashedNames(flags []compFlag, onlyValue bool) []string {
	var out []string
	for _, f := range flags {
		if f.value || !onlyValue {
			out = append(out, f.dashed())
		}
	}
	return out
}

// long is the name the scripts compare flags by: --o, --name (the
// scripts turn -name and --name alike into --name).
func long(f compFlag) string { return "--" + f.name }

// writeShData writes the functions the bash and zsh scripts share: the
// command table as case statements. FLAG arguments are in long form.
func writeShData(s *script, sp compSpec) {
	s.line("# _mtlsgate_next CMD: the words that may follow the command words CMD.\n_mtlsgate_next() {\n\tcase $1 in")
	for _, p := range parents(sp.words) {
		s.line("\t%s) echo %s ;;", s.q(p), s.q(children(sp.words, p)...))
	}
	s.line("\tesac\n}\n\n# _mtlsgate_flags CMD: the flags CMD takes.\n_mtlsgate_flags() {\n\tcase $1 in")
	s.line("\t'') echo %s ;;", s.q(dashedNames(sp.top, false)...))
	for _, c := range sp.commands {
		if len(c.flags) > 0 {
			s.line("\t%s) echo %s ;;", s.q(c.path), s.q(dashedNames(c.flags, false)...))
		}
	}
	s.line("\tesac\n\techo %s\n}\n", s.q(dashedNames(sp.global, false)...))
	s.line("# _mtlsgate_takes_value CMD FLAG: whether FLAG of CMD takes a value.\n_mtlsgate_takes_value() {\n\tcase \"$1 $2\" in")
	for _, c := range sp.commands {
		for _, f := range c.flags {
			if f.value {
				s.line("\t%s) return 0 ;;", s.q(c.path+" "+long(f)))
			}
		}
	}
	s.line("\tesac\n\tcase $2 in")
	for _, f := range sp.global {
		if f.value {
			s.line("\t%s) return 0 ;;", s.q(long(f)))
		}
	}
	s.line("\tesac\n\treturn 1\n}\n")
	writeShValues(s, sp)
}

// writeShValues writes _mtlsgate_values and _mtlsgate_args.
func writeShValues(s *script, sp compSpec) {
	s.line("# _mtlsgate_values CMD KEY: the values of flag KEY (--name) or of KEY= of CMD.\n_mtlsgate_values() {\n\tcase \"$1 $2\" in")
	for _, c := range sp.commands {
		for _, f := range c.flags {
			if len(f.choices) > 0 {
				s.line("\t%s) echo %s ;;", s.q(c.path+" "+long(f)), s.q(f.choices...))
			}
		}
		for _, k := range c.args {
			if v := c.keyValues[k]; len(v) > 0 {
				s.line("\t%s) echo %s ;;", s.q(c.path+" "+k), s.q(v...))
			}
		}
	}
	for _, f := range sp.global {
		if len(f.choices) > 0 {
			s.line("\t*%s) echo %s ;;", s.q(" "+long(f)), s.q(f.choices...))
		}
	}
	s.line("\tesac\n}\n\n# _mtlsgate_args CMD N: the values of CMD's positional argument after N others.\n_mtlsgate_args() {\n\tcase $1 in")
	for _, c := range sp.commands {
		if len(c.args) == 0 {
			continue
		}
		cond := fmt.Sprintf("$2 >= %d", c.argFrom)
		if c.argTo >= 0 {
			cond += fmt.Sprintf(" && $2 < %d", c.argTo)
		}
		s.line("\t%s) (( %s )) && echo %s ;;", s.q(c.path), cond, s.q(c.args...))
	}
	s.line("\t'help') echo %s ;;\n\tesac\n}\n", s.q(children(sp.words, "")...))
}

// bashDriver completes the word under the cursor from COMP_WORDS, with
// the data functions. "=" is a word break in bash, so --flag=VALUE and
// KEY=VALUE arrive as three words.
const bashDriver = `_mtlsgate() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev='' key='' cmd='' npos=0 skip=0 i w f words
	(( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}
	COMPREPLY=()
	for (( i = 1; i < COMP_CWORD; i++ )); do
		w=${COMP_WORDS[i]}
		[[ $w == = ]] && continue
		if (( skip )); then skip=0; continue; fi
		case $w in
		-?*)
			f=${w#-}; f=--${f#-}
			_mtlsgate_takes_value "$cmd" "$f" && skip=1 ;;
		*)
			if (( npos == 0 )) && [[ " $(_mtlsgate_next "$cmd") " == *" $w "* ]]; then
				cmd=${cmd:+$cmd }$w
			else
				npos=$(( npos + 1 ))
			fi ;;
		esac
	done
	if [[ $cur == = ]]; then
		cur='' key=$prev
	elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then
		key=${COMP_WORDS[COMP_CWORD-2]}
	elif [[ $prev == -?* ]]; then
		f=${prev#-}; f=--${f#-}
		_mtlsgate_takes_value "$cmd" "$f" && key=$prev
	fi
	if [[ -n $key ]]; then
		if [[ $key == -* ]]; then
			f=${key#-}; f=--${f#-}
			words=$(_mtlsgate_values "$cmd" "$f")
		else
			words=$(_mtlsgate_values "$cmd" "$key=")
		fi
		[[ -n $words ]] && COMPREPLY=($(compgen -W "$words" -- "$cur"))
		return 0
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_mtlsgate_flags "$cmd")" -- "$cur"))
		return 0
	fi
	words=''
	(( npos == 0 )) && words=$(_mtlsgate_next "$cmd")
	[[ -z $words ]] && words=$(_mtlsgate_args "$cmd" "$npos")
	[[ -n $words ]] && COMPREPLY=($(compgen -W "$words" -- "$cur"))
	if [[ ${#COMPREPLY[@]} -gt 0 && ${COMPREPLY[0]} == *= ]]; then
		compopt -o nospace 2>/dev/null
	fi
	return 0
}

complete -o default -F _mtlsgate mtlsgate
`

// writeBashCompletion writes the bash script. With no match it leaves
// the word to bash's file name completion (complete -o default).
func writeBashCompletion(w io.Writer, sp compSpec) error {
	var s script
	s.line(`# bash completion for mtlsgate, generated by "mtlsgate completion bash" from`)
	s.line("# the command table of the binary that printed it. To use it, add to ~/.bashrc:")
	s.line("#   source <(mtlsgate completion bash)\n")
	writeShData(&s, sp)
	s.WriteString(bashDriver)
	return s.writeTo(w)
}
