//go:build unix

package obs

import "golang.org/x/sys/unix"

// canWrite reports why this process could not write path (dir false) or
// create files in the directory path (dir true), as access(2) answers
// for the real user, which is the one palisade runs as.
func canWrite(path string, dir bool) error {
	mode := uint32(unix.W_OK)
	if dir {
		mode |= unix.X_OK
	}
	return unix.Access(path, mode)
}
