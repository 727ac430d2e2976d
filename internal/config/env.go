package config

import (
	"strconv"
	"strings"
)

// envProblem is one ${...} reference that could not be expanded.
type envProblem struct {
	message, hint string
}

// expandEnv replaces every ${NAME} in s with the value lookup returns for
// NAME, and every ${NAME:-default} with that value or, when NAME is unset
// or empty, with default (the shell's rule). "$${" is a literal "${"; a "$"
// not followed by "{" is kept as written. The expansion is not scanned
// again, so a value containing "${" stays as it is.
//
// expandEnv reports every reference it cannot expand; the returned string
// is then meaningless.
func expandEnv(s string, lookup func(string) (string, bool)) (string, []envProblem) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var (
		b        strings.Builder
		problems []envProblem
	)
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$${"):
			b.WriteString("${")
			s = s[3:]
			continue
		case !strings.HasPrefix(s, "${"):
			b.WriteByte('$')
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, '}')
		if end < 0 {
			problems = append(problems, envProblem{
				message: "unterminated ${ in " + strconv.Quote(s),
				hint:    "close it with }, or write $${ for a literal ${",
			})
			break
		}
		ref := s[2:end]
		s = s[end+1:]
		name, def, hasDefault := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			problems = append(problems, envProblem{
				message: "${" + ref + "} is not a valid reference",
				hint:    "write ${NAME} or ${NAME:-default}, NAME made of letters, digits and _; write $${ for a literal ${",
			})
			continue
		}
		v, ok := lookup(name)
		switch {
		case hasDefault && (!ok || v == ""):
			v = def
		case !ok:
			problems = append(problems, envProblem{
				message: "environment variable " + name + " is not set",
				hint:    "set it, or give a default: ${" + name + ":-default}",
			})
			continue
		}
		b.WriteString(v)
	}
	return b.String(), problems
}

// validEnvName reports whether name is a POSIX shell variable name.
func validEnvName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
