//go:build !unix

package proxy

// peerClosed cannot peek without blocking here; the stale connection retry
// covers requests that can be sent again.
func (c *h1Conn) peerClosed() bool { return false }
