//go:build !linux

package server

// initRaw does nothing where readIdle has no poller-based wait.
func (c *conn) initRaw() {}

// readIdle waits for the first bytes of a request without holding a
// buffer.
func (c *conn) readIdle() error { return c.readIdlePortable() }
