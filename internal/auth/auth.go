package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
	"palisade/internal/middleware"
)

// Sentinel errors recorded in the request's State when a request is
// refused; the client sees only the status.
var (
	// ErrNoCredentials: the request carried no credentials for the mode.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrBadCredentials: the credentials were malformed or did not verify.
	ErrBadCredentials = errors.New("auth: bad credentials")
	// ErrAuthUnavailable: the auth service or the key set could not be
	// reached, so nothing could be verified.
	ErrAuthUnavailable = errors.New("auth: unavailable")
)

// New returns the auth middleware for one route. cfg has been validated;
// New fails on what only the runtime sees: an htpasswd file or key file
// that cannot be read or holds what is not accepted (the error names the
// file and line), a hash bcrypt rejects. log receives the state changes of
// the auth service's or key set's reachability; it may be nil.
//
// The returned middleware may serve any number of requests concurrently.
func New(cfg config.Auth, log *slog.Logger) (middleware.Middleware, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Basic != nil && cfg.JWT == nil && cfg.Forward == nil:
		b, err := newBasic(*cfg.Basic, cfg.KeepCredentials)
		if err != nil {
			return nil, fmt.Errorf("auth basic: %w", err)
		}
		return func(next http.Handler) http.Handler { return &basicHandler{basic: b, next: next} }, nil
	case cfg.JWT != nil && cfg.Basic == nil && cfg.Forward == nil:
		j, err := newJWT(*cfg.JWT, cfg.KeepCredentials, log)
		if err != nil {
			return nil, fmt.Errorf("auth jwt: %w", err)
		}
		return func(next http.Handler) http.Handler { return &jwtHandler{jwt: j, next: next} }, nil
	case cfg.Forward != nil && cfg.Basic == nil && cfg.JWT == nil:
		f, err := newForward(*cfg.Forward, cfg.KeepCredentials, log)
		if err != nil {
			return nil, fmt.Errorf("auth forward: %w", err)
		}
		return func(next http.Handler) http.Handler { return &forwardHandler{fwd: f, next: next} }, nil
	}
	return nil, errors.New("auth: exactly one of basic, jwt and forward must be set")
}

// challengeWriter adds a WWW-Authenticate field to the response head that
// middleware.WriteError writes (it clears the header map first, so the
// field cannot be set before the call).
type challengeWriter struct {
	http.ResponseWriter
	challenge string
}

func (c *challengeWriter) WriteHeader(code int) {
	c.ResponseWriter.Header()["Www-Authenticate"] = []string{c.challenge}
	c.ResponseWriter.WriteHeader(code)
}

// Unwrap lets WriteError find the request's middleware.ResponseWriter.
func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// refuse answers 401 with challenge (RFC 9110 §11.6.1: a 401 carries at
// least one challenge) and records err for the log.
func refuse(w http.ResponseWriter, r *http.Request, challenge string, err error) {
	middleware.WriteError(&challengeWriter{ResponseWriter: w, challenge: challenge}, r, http.StatusUnauthorized, err)
}

// deleteClientCopies removes from h the fields named in names (canonical),
// and every spelling of them with underscores for dashes (X_User for
// X-User, in any case). CGI, FastCGI (PHP), WSGI and Rack backends read
// both spellings as one variable (HTTP_X_USER), so a client sending X_User
// itself could otherwise claim the identity the middleware vouches for.
// The scan of h costs a byte search per field and allocates nothing.
func deleteClientCopies(h http.Header, names []string) {
	for _, name := range names {
		delete(h, name)
	}
	for k := range h {
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		for _, name := range names {
			if httpsyntax.EqualFoldUnderscore(k, name) {
				delete(h, k)
				break
			}
		}
	}
}
