package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"

	"palisade/internal/middleware"
	"palisade/internal/obs"
	"palisade/internal/server"
	"palisade/internal/tlsconf"
)

// listenerHandler is the root handler of one open listener: it loads the
// listener's live runtime once, sets up the request State, refuses a
// request misdirected to a TLS connection (421), finds the route and runs
// it, then writes the access log line.
type listenerHandler struct {
	ol *openListener
}

func (g *Gateway) handler(ol *openListener) http.Handler { return listenerHandler{ol: ol} }

// requestScope is everything one request needs from the gateway, allocated
// together.
type requestScope struct {
	state middleware.State
	rw    middleware.ResponseWriter
}

type scopeKey struct{}

// errMisdirected is logged for a request whose host the connection's
// certificate was not chosen for; see tlsconf.Misdirected.
var errMisdirected = errors.New("misdirected request: the connection's certificate was not chosen for this host")

// connContext gives every accepted connection a requestScope, already in
// its context as the State. An HTTP/1.x connection serves its requests one
// at a time, so they reuse the scope and the gateway allocates nothing per
// request for it; HTTP/2 streams run concurrently on one connection and
// get a scope each.
func connContext(ctx context.Context, _ net.Conn) context.Context {
	sc := new(requestScope)
	return context.WithValue(middleware.WithState(ctx, &sc.state), scopeKey{}, sc)
}

// scope returns the request's scope and r carrying it.
func scope(r *http.Request) (*requestScope, *http.Request) {
	if r.ProtoMajor == 1 {
		if sc, ok := r.Context().Value(scopeKey{}).(*requestScope); ok {
			sc.state = middleware.State{}
			return sc, r
		}
	}
	sc := new(requestScope)
	return sc, r.WithContext(middleware.WithState(r.Context(), &sc.state))
}

func (h listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := h.ol.rt.Load()
	sc, r := scope(r)
	st := &sc.state
	st.ID = middleware.NewRequestID()
	st.Start = time.Now()
	st.Listener = rt.Name
	st.Peer = peerAddr(r.RemoteAddr)
	st.PeerTrusted = middleware.Trusted(st.Peer.Addr(), rt.Trusted)
	st.ClientIP = middleware.ClientIP(st.Peer.Addr(), r.Header["X-Forwarded-For"], rt.Trusted)
	sc.rw.Reset(w)

	defer func() {
		status := sc.rw.Status()
		if status == 0 {
			status = http.StatusOK
		}
		rt.Snapshot.AccessLog.Log(r, st, obs.Entry{Status: status, Bytes: sc.rw.Bytes(), End: time.Now()})
	}()

	// Plain connections pay one nil check.
	if r.TLS != nil && tlsconf.Misdirected(rt.TLS, r.TLS, r.Host) {
		middleware.WriteError(&sc.rw, r, http.StatusMisdirectedRequest, errMisdirected)
		return
	}
	rte, ok := rt.Table.Lookup(r)
	if !ok {
		middleware.WriteError(&sc.rw, r, http.StatusNotFound, nil)
		return
	}
	st.Route = rte.Name
	rte.Handler.ServeHTTP(&sc.rw, r)
}

// refused returns the hook that gives a request the server refused before
// routing (400, 408, 413, 417, 431, 501, 505) a request ID, sent back in
// X-Request-Id, and an access log line with the status and the reason.
// Only refusals run it, so the requests the handler serves pay nothing.
func refused(ol *openListener) func(*server.RefusedRequest) {
	return func(rr *server.RefusedRequest) {
		rt := ol.rt.Load()
		r := rr.Request
		now := time.Now()
		st := &middleware.State{ID: middleware.NewRequestID(), Start: now, Listener: rt.Name}
		st.Peer = peerAddr(r.RemoteAddr)
		st.ClientIP = middleware.ClientIP(st.Peer.Addr(), r.Header["X-Forwarded-For"], rt.Trusted)
		rr.RequestID = st.ID
		rt.Snapshot.AccessLog.Log(r, st, obs.Entry{Status: rr.Status, End: now, Reason: rr.Reason})
	}
}

// peerAddr parses the server's RemoteAddr ("ip:port").
func peerAddr(remote string) netip.AddrPort {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return netip.AddrPort{}
	}
	a, _ := netip.ParseAddr(host)
	return netip.AddrPortFrom(a, 0)
}
