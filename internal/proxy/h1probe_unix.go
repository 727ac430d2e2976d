//go:build unix

package proxy

import (
	"errors"
	"syscall"
)

// peerClosed reports, without blocking, whether the backend closed c (or
// sent bytes nobody asked for) while it sat in the pool. nginx and HAProxy
// learn this from their event loop as it happens; our pool has no watcher,
// so a connection idle for a while is probed with one non-blocking peek
// before it carries a request that could not be retried.
func (c *h1Conn) peerClosed() bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = n > 0 || (n == 0 && err == nil) ||
			(err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR))
		return true
	})
	return closed
}
