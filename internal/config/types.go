package config

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written as a string ("5s", "1m30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// Size is a byte count written as a string with a unit ("64KiB", "1GiB",
// "512B"); a bare integer is taken as bytes.
type Size int64

func (s Size) String() string {
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if s != 0 && int64(s)%u.n == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.n, u.name)
		}
	}
	return fmt.Sprintf("%dB", int64(s))
}

// StringList is written either as one string or as a list of strings.
type StringList []string

// Pos is where a value was written.
type Pos struct {
	Line, Col int
}

// Diagnostic is one problem found in a document.
type Diagnostic struct {
	File    string
	Pos     Pos
	Path    string // "routes[2].upstream"
	Message string // what is wrong
	Hint    string // how to fix it; may be empty
}

func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		b.WriteByte(':')
	}
	if d.Pos.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", d.Pos.Line, d.Pos.Col)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Hint != "" {
		fmt.Fprintf(&b, " (hint: %s)", d.Hint)
	}
	return b.String()
}

// Diagnostics is every problem found in a document, in source order. It is
// an error when it is not empty.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Problem is one validation finding inside a section whose path the caller
// knows; Field is relative to that section ("levels.gzip").
type Problem struct {
	Field, Message, Hint string
}
