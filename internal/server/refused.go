package server

import (
	"net/http"
	"net/url"
)

// RefusedRequest is a request the server answered itself, before the
// handler ran: a malformed or ambiguous head, a head over the limits or too
// slow, a declared body over the limit, an unsupported version or coding.
// The server passes it to the hook set with SetOnRefused just before it
// writes the response.
type RefusedRequest struct {
	// Status is the status the client gets: 400, 408, 413, 417, 431, 501
	// or 505.
	Status int
	// Reason says which rule refused the request, for the log; it is never
	// sent to the client.
	Reason string
	// Request is what was parsed before the refusal: its context (the
	// connection's, with the values of SetConnContext), RemoteAddr and a
	// non-nil URL always; Method, RequestURI, Proto, Host and Header as
	// far as parsing got, empty otherwise. The hook must not keep it or
	// anything it refers to after returning, nor read its Body.
	Request *http.Request
	// RequestID, when the hook sets it, is sent in an X-Request-Id field
	// of the response, so a client can quote it. It must be a token.
	RequestID string
}

// SetOnRefused installs f, called on the connection's goroutine (HTTP/1.x)
// or the stream's (HTTP/2) for every request refused before the handler
// runs; the gateway writes an access log line from it. Requests the
// handler serves never reach it. It must be called before Serve.
func (s *Server) SetOnRefused(f func(*RefusedRequest)) { s.onRefused = f }

// refused calls the hook for an HTTP/1.x request refused with rj, r being
// what was parsed of it (nil when the head was not complete), and returns
// the request ID to send. It runs on the refusal path only.
func (c *conn) refused(rj reject, r *http.Request) string {
	f := c.srv.onRefused
	if f == nil {
		return ""
	}
	if r == nil {
		r = new(http.Request)
		*r = c.base
	}
	if r.URL == nil {
		r.URL = new(url.URL)
	}
	r.RemoteAddr = c.remote
	rr := RefusedRequest{Status: rj.status, Reason: rj.why, Request: r}
	f(&rr)
	return rr.RequestID
}

// refuseH2 answers an HTTP/2 request refused before the handler with a bare
// status, after the hook.
func (s *Server) refuseH2(w http.ResponseWriter, r *http.Request, status int, why string) {
	if f := s.onRefused; f != nil {
		rr := RefusedRequest{Status: status, Reason: why, Request: r}
		f(&rr)
		if rr.RequestID != "" {
			w.Header().Set("X-Request-Id", rr.RequestID)
		}
	}
	s.log.Debug("request refused", "remote", r.RemoteAddr, "status", status, "why", why)
	writeBare(w, status)
}
