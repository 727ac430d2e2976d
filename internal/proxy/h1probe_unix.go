//go:build unix

package proxy

import (
	"errors"
	"syscall"
)

// peerClosed reports, without blocking, whether the backend closed c (or
// sent bytes nobody asked for) while it sat in the pool, with one
// non-blocking peek. It is the fallback for a connection the close watcher
// does not watch (outside Linux, or where epoll failed): it costs a system
// call per use, which the pool spends only where a stale connection would
// cost more (see h1Pool.get).
func (c *h1Conn) peerClosed() bool {
	rc := c.rc
	if rc == nil {
		sc, ok := c.nc.(syscall.Conn)
		if !ok {
			return false
		}
		var err error
		if rc, err = sc.SyscallConn(); err != nil {
			return false
		}
	}
	closed := false
	// Control, not Read: a peek never waits, and Read would refuse to run
	// it under a read deadline left in the past.
	rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			closed = n > 0 || (n == 0 && err == nil) ||
				(err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK))
			return
		}
	})
	return closed
}
