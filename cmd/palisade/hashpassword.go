package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// cmdHashPassword prints the bcrypt hash of a password read from stdin,
// for the users and htpasswd files of auth basic. On a terminal it
// prompts twice with echo off; otherwise it reads one line (a pipe, a
// file), so a script can hash without the password in argv, where other
// users could see it.
func cmdHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("hash-password", "hash-password [-cost 10] < password", stdout, stderr)
	cost := fs.Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d to %d; each step doubles the work", bcrypt.MinCost, bcrypt.MaxCost))
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fmt.Fprintf(stderr, "palisade hash-password: -cost %d is out of range (%d to %d)\n", *cost, bcrypt.MinCost, bcrypt.MaxCost)
		return exitUsage
	}
	var pw []byte
	var err error
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		pw, err = promptPassword(f, stderr)
	} else {
		pw, err = readLine(stdin)
	}
	if err == nil && len(pw) == 0 {
		err = errors.New("empty password")
	}
	if err == nil && len(pw) > 72 {
		// bcrypt reads 72 bytes; a longer password would match any
		// password sharing its first 72 bytes.
		err = fmt.Errorf("password of %d bytes is longer than bcrypt's 72", len(pw))
	}
	if err != nil {
		fmt.Fprintf(stderr, "palisade hash-password: %v\n", err)
		return exitFailed
	}
	hash, err := bcrypt.GenerateFromPassword(pw, *cost)
	if err != nil {
		fmt.Fprintf(stderr, "palisade hash-password: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "%s\n", hash)
	return exitOK
}

// readLine returns the first line of r without its line ending.
func readLine(r io.Reader) ([]byte, error) {
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if errors.Is(err, io.EOF) && len(line) == 0 {
		return nil, errors.New("no password on standard input")
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// promptPassword reads a password twice from the terminal f with echo off.
func promptPassword(f *os.File, prompt io.Writer) ([]byte, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	r := bufio.NewReader(f)
	read := func(label string) ([]byte, error) {
		fmt.Fprint(prompt, label)
		line, err := r.ReadBytes('\n')
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		return bytes.TrimRight(line, "\r\n"), nil
	}
	pw, err := read("Password: ")
	if err != nil {
		return nil, err
	}
	again, err := read("Again: ")
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("the passwords differ")
	}
	return pw, nil
}
