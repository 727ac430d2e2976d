package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// h2cServer is the net/http server that speaks HTTP/2: with prior
// knowledge on connections our HTTP/1.1 loop recognised by their preface,
// and over TLS on connections that negotiated h2 through ALPN. It is
// started at the first such connection and fed through a listener of
// handed-over connections.
type h2cServer struct {
	srv  *http.Server
	ln   *handoffListener
	done chan struct{} // closed when srv.Serve has returned
}

// h2cFor returns the running h2c server, starting it with the current
// options, or nil when the server is shutting down.
func (s *Server) h2cFor() *h2cServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return nil
	}
	if s.h2 != nil {
		return s.h2
	}
	o := s.opts.Load()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	protos.SetHTTP2(true) // connections that negotiated h2 over TLS
	h := &h2cServer{
		srv: &http.Server{
			Handler:           h2Limits{s},
			Protocols:         &protos,
			ReadHeaderTimeout: o.ReadHeaderTimeout,
			IdleTimeout:       o.IdleTimeout,
			WriteTimeout:      0, // a stream may be long; WriteTimeout bounds one write in h1 only.
			MaxHeaderBytes:    o.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.Background() },
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				// The same values as an HTTP/1.1 request's context, from
				// the accepted connection rather than our wrapper.
				if rc, ok := c.(*replayConn); ok {
					c = rc.Conn
				}
				if s.connContext != nil {
					ctx = s.connContext(ctx, c)
				}
				return ctx
			},
		},
		ln: &handoffListener{
			conns:  make(chan net.Conn),
			closed: make(chan struct{}),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		h.srv.Serve(h.ln)
	}()
	s.h2 = h
	return h
}

// handoffH2 gives the connection, with the bytes read so far replayed, to
// the HTTP/2 server. The connection goroutine ends; net/http owns the socket.
func (c *conn) handoffH2() {
	s := c.srv
	h := s.h2cFor()
	if h == nil {
		return
	}
	// A *tls.Conn is handed over as it is, which is how net/http knows to
	// take ALPN's word for HTTP/2; nothing was read from it yet.
	nc := c.nc
	if c.rpos < c.rend {
		nc = &replayConn{Conn: c.nc, buf: append([]byte(nil), c.rbuf[c.rpos:c.rend]...)}
		c.rpos = c.rend
	}
	c.nc.SetDeadline(time.Time{})
	s.untrack(c)
	c.hijacked = true
	c.leaveEpoll() // before net/http may close the socket
	select {
	case h.ln.conns <- nc:
	case <-h.ln.closed:
		nc.Close()
	}
}

// handoffListener is the net.Listener the h2c server accepts from.
type handoffListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "h2c-handoff" }
func (handoffAddr) String() string  { return "h2c-handoff" }

// replayConn returns buf before reading from Conn: the bytes our HTTP/1.1
// loop read while looking for the preface.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// h2Limits applies the rules and limits net/http's HTTP/2 server does not
// know about: the path rules of our HTTP/1.1 parser, the underscore
// policy for field names, and,
// read from the current options so that SetOptions reaches h2c too: the
// header field count (431) and the body size (413 for a declared length,
// *http.MaxBytesError from Read for a stream crossing it).
type h2Limits struct{ s *Server }

func (h h2Limits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o := h.s.opts.Load()
	// The path rules of our HTTP/1.1 parser, which net/http does not apply
	// to :path: no dot segments, raw or decoded.
	if dotSegment(r.URL.EscapedPath()) || dotSegment(r.URL.Path) || strings.IndexByte(r.URL.Path, 0) >= 0 {
		h.s.refuseH2(w, r, http.StatusBadRequest, "dot segment or NUL in path")
		return
	}
	n, dropped := 0, ""
	for k, vs := range r.Header {
		n += len(vs)
		if strings.IndexByte(k, '_') < 0 || o.Underscores == UnderscoresKeep {
			continue
		}
		if o.Underscores == UnderscoresReject {
			h.s.refuseH2(w, r, http.StatusBadRequest, "underscore in field name")
			return
		}
		// Deleting the entry being visited is allowed during range.
		delete(r.Header, k)
		dropped = k
	}
	if o.MaxHeaderCount > 0 && n > o.MaxHeaderCount {
		h.s.refuseH2(w, r, http.StatusRequestHeaderFieldsTooLarge, "too many field lines")
		return
	}
	if dropped != "" {
		h.s.log.Debug("dropped request fields with an underscore in their name",
			"remote", r.RemoteAddr, "field", dropped)
	}
	if o.MaxBodyBytes > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > o.MaxBodyBytes {
			h.s.refuseH2(w, r, http.StatusRequestEntityTooLarge, "body over the limit")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, o.MaxBodyBytes)
	}
	h.s.handler.ServeHTTP(w, r)
}

// writeBare answers with status and its text, nothing else.
func writeBare(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(http.StatusText(status) + "\n"))
}
