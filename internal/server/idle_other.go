//go:build !linux

package server

// initRaw does nothing where readIdle has no poller-based wait.
func (c *conn) initRaw() {}

// readIdle waits on the connection's goroutine for the first bytes of a
// request, without holding a buffer.
func (c *conn) readIdle(bool, bool) error {
	if err := c.armWait(); err != nil {
		return err
	}
	return c.readIdlePortable()
}

// leaveEpoll does nothing: connections are never parked here.
func (c *conn) leaveEpoll() {}

// parker exists on Linux only; here Server.parker stays nil.
type parker struct{}

func (*parker) close() {}

// unwatch does nothing: no connection is watched here (no ClientWatcher in
// the context).
func (c *conn) unwatch() { c.watching = false }

// WatchClient does nothing: connections are never watched here, and no
// context offers it.
func (c *conn) WatchClient() {}
