//go:build linux

package server

import (
	"io"
	"os"
	"syscall"
)

// initRaw keeps the raw connection of a socket, to wait for requests
// without a buffer.
func (c *conn) initRaw() {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.rc = rc
	c.idleFn = c.tryRead
}

// readIdle waits for the first bytes of a request and reads them into a
// fresh pooled buffer. The wait itself holds no buffer: the runtime poller
// parks the goroutine until the socket is readable (honouring the read
// deadline), and tryRead takes a buffer only for the moment of a
// non-blocking read. Reading at once rather than peeking first (MSG_PEEK)
// saves one system call per keep-alive request; the memory held while idle
// is the same, none.
func (c *conn) readIdle() error {
	if c.rc == nil {
		return c.readIdlePortable()
	}
	c.idleN, c.idleErr = 0, nil
	if err := c.rc.Read(c.idleFn); err != nil {
		return err
	}
	if c.idleErr != nil {
		return c.idleErr
	}
	if c.idleN == 0 {
		return io.EOF
	}
	return nil
}

// tryRead is the syscall.RawConn.Read callback: it returns false to make
// the poller wait, true when it read bytes, met EOF or failed.
func (c *conn) tryRead(fd uintptr) bool {
	blk := c.srv.getBlock()
	for {
		n, err := syscall.Read(int(fd), blk[:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.srv.putBlock(blk)
			return false
		case err != nil:
			c.srv.putBlock(blk)
			c.idleErr = os.NewSyscallError("read", err)
			return true
		case n == 0:
			c.srv.putBlock(blk)
			return true
		}
		c.rblk, c.rbuf = blk, blk[:]
		c.rpos, c.rend = 0, n
		c.idleN = n
		return true
	}
}
