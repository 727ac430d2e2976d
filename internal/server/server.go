package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// blockSize is the size of pooled read and write buffers.
const blockSize = 4 << 10

// block is one pooled buffer. Pools hold *block so that Put does not
// allocate.
type block [blockSize]byte

// Server serves HTTP/1.1 and h2c (prior knowledge), or with SetTLSConfig
// HTTP/1.1 and HTTP/2 over TLS, on the listeners passed to Serve, calling
// one handler for every request. Its methods may be called concurrently.
type Server struct {
	handler     http.Handler
	log         *slog.Logger
	opts        atomic.Pointer[Options]
	connContext func(ctx context.Context, c net.Conn) context.Context
	onRefused   func(*RefusedRequest)
	// tlsConfig, when set, terminates TLS on connections accepted from
	// then on (SetTLSConfig).
	tlsConfig atomic.Pointer[tls.Config]

	// blocks holds the read and write buffers of connections between
	// requests; conns the per-connection state; exchanges the
	// per-request state.
	blocks    sync.Pool
	conns     sync.Pool
	exchanges sync.Pool
	// date is the Date line of the current second.
	date atomic.Pointer[dateLine]

	// parker holds the idle connections without a goroutine (Linux); nil
	// until the first connection goes idle.
	parker atomic.Pointer[parker]
	// briefWaits counts the connections waiting for their next request on
	// their goroutine before parking (Linux).
	briefWaits    atomic.Int32
	maxBriefWaits int32 // 128 per core at New

	inShutdown atomic.Bool
	// connWG counts the connections from accept to close, parked ones
	// included, and the parker's goroutine.
	connWG sync.WaitGroup

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	active    map[*conn]struct{} // connections owned by a goroutine
	h2        *h2cServer
	noParker  bool // epoll failed: idle connections keep their goroutine
}

// New returns a server calling h for every request, with the given options
// and logger (nil discards logs). Nothing runs until Serve.
func New(h http.Handler, opts Options, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		handler:   h,
		log:       log,
		listeners: make(map[net.Listener]struct{}),
		active:    make(map[*conn]struct{}),
	}
	s.blocks.New = func() any { return new(block) }
	s.conns.New = func() any { return new(conn) }
	s.exchanges.New = func() any { return new(exchange) }
	s.maxBriefWaits = int32(128 * runtime.GOMAXPROCS(0))
	s.SetOptions(opts)
	return s
}

// SetOptions replaces the options. Every connection reads them once per
// request, so the change applies to the next request on each; a request in
// progress keeps the options it started with. The h2c server takes its
// options when it starts, at the first h2c connection.
func (s *Server) SetOptions(o Options) {
	o = o.normalized()
	s.opts.Store(&o)
}

// SetConnContext installs f, called once for each accepted connection (h1
// and h2c alike) with the connection's base context and the accepted
// net.Conn; the context it returns is the parent of every request context on
// that connection. The gateway stores the listener name there. It must be
// called before Serve.
func (s *Server) SetConnContext(f func(ctx context.Context, c net.Conn) context.Context) {
	s.connContext = f
}

// Serve accepts connections on ln and serves each on its own goroutine
// until Shutdown or Close, then returns http.ErrServerClosed. ln is closed
// by Shutdown and Close, and when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait instead of
			// spinning, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		// No I/O here: the handshake runs on the connection's goroutine.
		var tc *tls.Conn
		if cfg := s.tlsConfig.Load(); cfg != nil {
			tc = tls.Server(nc, cfg)
			nc = tc
		}
		c := s.newConn(nc)
		if c == nil {
			nc.Close()
			return http.ErrServerClosed
		}
		if tc != nil {
			go c.serveTLS(tc)
			continue
		}
		go c.serve()
	}
}

// newConn prepares and tracks the connection state of nc, or returns nil
// when the server is shutting down.
func (s *Server) newConn(nc net.Conn) *conn {
	c := s.conns.Get().(*conn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		s.conns.Put(c)
		return nil
	}
	c.init(s, nc)
	s.active[c] = struct{}{}
	s.connWG.Add(1)
	return c
}

// untrack removes c from the connections Shutdown and Close act on: it has
// been hijacked, handed to the h2c server, parked (the parker closes it
// then), or is ending.
func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.active, c)
	s.mu.Unlock()
}

// Shutdown stops the server gracefully: it closes the listeners and the
// idle connections at once, lets requests in flight finish (their
// connections then close instead of waiting for another request), and
// waits for every connection goroutine to end. When ctx expires first it
// closes every connection, cancels the request contexts, waits for the
// goroutines all the same and returns ctx's error; a handler that neither
// returns nor watches its context therefore delays Shutdown. A hijacked
// connection (a WebSocket tunnel) counts as in flight until its handler
// returns, and is closed under the hijacker when ctx expires.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	s.closeListenersLocked()
	for c := range s.active {
		// A connection waiting for a request wakes up, sees inShutdown
		// and closes; one that becomes idle later checks inShutdown after
		// setting its own deadline.
		if c.state.Load() == connIdle {
			c.nc.SetReadDeadline(aLongTimeAgo())
		}
	}
	h2 := s.h2
	s.mu.Unlock()
	// Parked connections are idle: closed at once.
	if p := s.parker.Load(); p != nil {
		p.close()
	}

	var h2err chan error
	if h2 != nil {
		h2err = make(chan error, 1)
		go func() { h2err <- h2.srv.Shutdown(ctx) }()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.closeConns()
		<-done
	}
	if h2 != nil {
		if e := <-h2err; e != nil {
			h2.srv.Close()
			if err == nil {
				err = e
			}
		}
		<-h2.done
	}
	return err
}

// Close closes the listeners and every connection at once, cancelling the
// request contexts, and waits for the connection goroutines to end.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	s.closeListenersLocked()
	h2 := s.h2
	s.mu.Unlock()
	// Before closeConns: a connection the parker resumes is tracked by then.
	if p := s.parker.Load(); p != nil {
		p.close()
	}
	s.closeConns()
	if h2 != nil {
		h2.srv.Close()
		<-h2.done
	}
	s.connWG.Wait()
	return nil
}

func (s *Server) closeListenersLocked() {
	for ln := range s.listeners {
		ln.Close()
	}
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.active {
		c.cancelRequest()
		c.nc.Close()
	}
}

// aLongTimeAgo returns a deadline in the past, to wake a blocked read.
func aLongTimeAgo() time.Time { return time.Unix(1, 0) }

func (s *Server) getBlock() *block  { return s.blocks.Get().(*block) }
func (s *Server) putBlock(b *block) { s.blocks.Put(b) }

// dateLine is a formatted "Date: ...\r\n" response line and the second it
// was made for.
type dateLine struct {
	unix int64
	line []byte
}

// dateFor returns the Date line for now, formatting it at most once per
// second: no timer goroutine keeps it fresh.
func (s *Server) dateFor(now time.Time) []byte {
	sec := now.Unix()
	if d := s.date.Load(); d != nil && d.unix == sec {
		return d.line
	}
	b := make([]byte, 0, 40)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\n"...)
	s.date.Store(&dateLine{unix: sec, line: b})
	return b
}
