package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPassword(t *testing.T) {
	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		cost        int
		stderr      string
	}{
		{"a line from a pipe", "correct horse\n", []string{"-cost", "4"}, exitOK, 4, ""},
		{"CRLF and no more lines read", "correct horse\r\nsecond line\n", []string{"-cost", "5"}, exitOK, 5, ""},
		{"no trailing newline", "correct horse", []string{"-cost", "4"}, exitOK, 4, ""},
		{"empty input", "", nil, exitFailed, 0, "no password on standard input"},
		{"empty line", "\n", nil, exitFailed, 0, "empty password"},
		{"over 72 bytes", strings.Repeat("p", 73) + "\n", nil, exitFailed, 0, "longer than bcrypt's 72"},
		{"cost out of range", "pw\n", []string{"-cost", "40"}, exitUsage, 0, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cmdHashPassword(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("hash-password %v = %d, stderr %q; want %d, stderr containing %q", tc.args, code, errb.String(), tc.code, tc.stderr)
			}
			if tc.code != exitOK {
				return
			}
			h := strings.TrimSuffix(out.String(), "\n")
			if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse")); err != nil {
				t.Errorf("printed hash %q does not verify the password: %v", h, err)
			}
			if c, _ := bcrypt.Cost([]byte(h)); c != tc.cost {
				t.Errorf("cost = %d, want %d", c, tc.cost)
			}
		})
	}
}
