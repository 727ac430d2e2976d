package gateway

import (
	"context"
	"net"
)

// listen opens a TCP listener on addr.
func listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(context.Background(), "tcp", addr)
}
