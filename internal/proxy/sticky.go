package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"palisade/internal/config"
	"palisade/internal/upstream"
)

// Sticky is cookie-based session affinity. The cookie's value is an HMAC
// of the upstream and the pinned backend's address under a secret key: a
// client can keep its backend but cannot choose one, and the cookie
// reveals no address.
type Sticky struct {
	// tokens caches each backend's cookie value: *upstream.Backend to
	// string. Backends that leave their pool leave an entry behind; there
	// are as many as backends ever seen by this upstream's config.
	tokens sync.Map

	cookie   string
	key      []byte
	maxAge   time.Duration
	path     string
	secure   bool
	httpOnly bool
	sameSite http.SameSite
}

// NewSticky returns the affinity of cfg. An empty secret uses fallback,
// which the gateway draws once per process so that pins survive reloads;
// an empty fallback too draws a random key, and pins then last as long as
// the Sticky.
func NewSticky(cfg config.Sticky, fallback []byte) *Sticky {
	key := []byte(cfg.Secret)
	if len(key) == 0 {
		key = fallback
	}
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	s := &Sticky{cookie: cfg.Cookie, key: key, maxAge: cfg.MaxAge.D(), path: cfg.Path, secure: cfg.Secure, httpOnly: cfg.HTTPOnly}
	switch cfg.SameSite {
	case "lax":
		s.sameSite = http.SameSiteLaxMode
	case "strict":
		s.sameSite = http.SameSiteStrictMode
	case "none":
		s.sameSite = http.SameSiteNoneMode
	}
	return s
}

// tokenLen is the length of a cookie value: base64url of 18 bytes of MAC.
const tokenLen = 24

// token returns the cookie value that pins b: an HMAC of the upstream and
// address, cut to 18 bytes. It is computed once per backend and cached.
func (s *Sticky) token(b *upstream.Backend) string {
	if v, ok := s.tokens.Load(b); ok {
		return v.(string)
	}
	v := s.mint(b)
	s.tokens.Store(b, v)
	return v
}

func (s *Sticky) mint(b *upstream.Backend) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(b.Upstream))
	m.Write([]byte{0})
	m.Write([]byte(b.Addr))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// pinned returns the backend of pool the request's cookie pins, if the
// cookie is present and valid and that backend is still in the pool.
func (s *Sticky) pinned(r *http.Request, pool []*upstream.Backend) *upstream.Backend {
	v, ok := cookieValue(r.Header["Cookie"], s.cookie)
	if !ok || len(v) != tokenLen {
		return nil
	}
	for _, b := range pool {
		if hmac.Equal([]byte(s.token(b)), []byte(v)) {
			return b
		}
	}
	return nil
}

// setCookie pins the client to b for the next requests.
func (s *Sticky) setCookie(h http.Header, b *upstream.Backend) {
	c := http.Cookie{Name: s.cookie, Value: s.token(b), Path: s.path, Secure: s.secure, HttpOnly: s.httpOnly, SameSite: s.sameSite}
	if s.maxAge > 0 {
		c.MaxAge = int((s.maxAge + time.Second - 1) / time.Second)
	}
	h.Add("Set-Cookie", c.String())
}

// hasCookie reports whether the request carries the affinity cookie with
// the value that pins b, so no Set-Cookie is needed.
func (s *Sticky) hasCookie(r *http.Request, b *upstream.Backend) bool {
	v, ok := cookieValue(r.Header["Cookie"], s.cookie)
	return ok && hmac.Equal([]byte(v), []byte(s.token(b)))
}
