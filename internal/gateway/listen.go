package gateway

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"

	"palisade/internal/snapshot"
)

// listen opens a TCP listener on addr.
func listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(context.Background(), "tcp", addr)
}

// filteredListener closes, as soon as they are accepted, the connections of
// TCP peers its listener's ip_filter denies: before TLS and HTTP, so a
// denied peer costs one accept and a close. The filter is read from the
// live part of the snapshot on each accept, so a reload changes it for the
// next connection. The peer is the address that connected: a listener
// never sees X-Forwarded-For.
type filteredListener struct {
	net.Listener
	rt     *atomic.Pointer[snapshot.Listener]
	denied *atomic.Uint64
	log    *slog.Logger
}

// Accept returns the next connection whose peer the filter allows.
func (l *filteredListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		rt := l.rt.Load()
		if rt == nil || rt.Filter == nil {
			return c, nil
		}
		tcp, ok := c.RemoteAddr().(*net.TCPAddr)
		if ok && rt.Filter.Allowed(tcp.AddrPort().Addr()) {
			return c, nil
		}
		c.Close()
		l.denied.Add(1)
		if l.log.Enabled(context.Background(), slog.LevelDebug) {
			l.log.Debug("connection denied by ip_filter", "listener", rt.Name, "peer", c.RemoteAddr().String())
		}
	}
}
