package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"palisade/internal/config"
)

// maxJWKSBytes bounds a key set document.
const maxJWKSBytes = 1 << 20

// keySet is one fetched JWK Set. It is immutable once published.
type keySet struct {
	keys    []verifyKey
	expires time.Time
}

func (s *keySet) has(kid string) bool {
	for i := range s.keys {
		if s.keys[i].id == kid {
			return true
		}
	}
	return false
}

// jwksSource is a key set fetched from a URL and cached. Requests read the
// published set with one atomic load. The request that finds the set
// missing, expired, or without the kid of its token refreshes it, under
// mu: requests that find it merely expired do not wait for a refresh in
// progress and use the set they have; those that need a key it lacks wait
// for it. Fetches that a kid or a failure causes are at most one per
// refreshInterval, so tokens with made-up kids cannot make the proxy hammer
// the identity provider. A set whose refresh fails stays in use (and the
// failure is logged once, as is the recovery): an identity provider being
// down does not lock everyone out, at the price of keys it has since
// withdrawn staying valid until it answers again.
type jwksSource struct {
	url    string
	client *http.Client
	cfg    config.AuthJWKS
	log    *slog.Logger
	set    atomic.Pointer[keySet]

	mu         sync.Mutex
	lastForced time.Time // guarded by mu: the last fetch an unknown kid or a failure caused
	failing    bool      // guarded by mu
}

func newJWKSSource(cfg config.AuthJWKS, log *slog.Logger) *jwksSource {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout.D()}).DialContext,
		TLSHandshakeTimeout:   cfg.Timeout.D(),
		ResponseHeaderTimeout: cfg.Timeout.D(),
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &jwksSource{
		url: cfg.URL,
		// Redirects are not followed: the URL was checked to be https (or
		// loopback http) by config, and a redirect, from the provider or
		// from anyone who controls a path on it, could otherwise send the
		// fetch to plain http or to an internal address (SSRF).
		client: &http.Client{
			Transport:     tr,
			Timeout:       cfg.Timeout.D(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cfg: cfg,
		log: log,
	}
}

// keys returns the current keys for a token naming kid ("" for none), and
// false when no set has ever been fetched.
func (s *jwksSource) keys(kid string) ([]verifyKey, bool) {
	set := s.set.Load()
	switch {
	case set == nil:
		set = s.refresh(set, true, false)
	case kid != "" && !set.has(kid):
		set = s.refresh(set, true, true)
	case time.Now().After(set.expires):
		set = s.refresh(set, false, false)
	}
	if set == nil {
		return nil, false
	}
	return set.keys, true
}

// refresh fetches the set unless seen is no longer the published one
// (another request refreshed it meanwhile) or the fetch would come too
// soon: one caused by an unknown kid (forced), or any while fetches fail,
// waits refreshInterval after the last such one. It returns the set
// published afterwards. Without wait it gives up at once when a refresh is
// in progress.
func (s *jwksSource) refresh(seen *keySet, wait, forced bool) *keySet {
	if wait {
		s.mu.Lock()
	} else if !s.mu.TryLock() {
		return seen
	}
	defer s.mu.Unlock()
	if cur := s.set.Load(); cur != seen {
		return cur
	}
	now := time.Now()
	if (forced || s.failing) && !s.lastForced.IsZero() && now.Sub(s.lastForced) < s.cfg.RefreshInterval.D() {
		return seen
	}
	set, err := s.fetch()
	if forced || err != nil {
		s.lastForced = now
	}
	if err != nil {
		if !s.failing {
			s.failing = true
			s.log.Warn("auth: JWKS fetch failed; keeping the keys already fetched", "url", s.url, "error", err, "keys", keyCount(seen))
		}
		return seen
	}
	if s.failing {
		s.failing = false
		s.log.Info("auth: JWKS fetched again", "url", s.url, "keys", len(set.keys))
	}
	s.set.Store(set)
	return set
}

func keyCount(s *keySet) int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// fetch gets and parses the key set, on a context of its own: the fetch
// serves every request waiting for it, not only the one that started it.
func (s *jwksSource) fetch() (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		if loc := resp.Header.Get("Location"); loc != "" {
			return nil, fmt.Errorf("status %d to %q: redirects are not followed (hint: configure the final URL)", resp.StatusCode, loc)
		}
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("key set larger than %d bytes", maxJWKSBytes)
	}
	keys, skipped, err := parseJWKS(data)
	if len(skipped) > 0 {
		s.log.Debug("auth: JWKS keys skipped", "url", s.url, "skipped", skipped)
	}
	if err != nil {
		return nil, err
	}
	ttl := s.cfg.CacheDefault.D()
	if age, ok := maxAge(resp.Header["Cache-Control"]); ok {
		ttl = age
	}
	ttl = min(max(ttl, s.cfg.CacheMin.D()), s.cfg.CacheMax.D())
	return &keySet{keys: keys, expires: time.Now().Add(ttl)}, nil
}

// maxAge returns the max-age of Cache-Control field values (RFC 9111
// §5.2.2.1), or 0 for no-store and no-cache, which ask that the set not
// be reused unchecked (the caller's lower bound then applies). A
// malformed max-age counts as absent.
func maxAge(values []string) (time.Duration, bool) {
	var age time.Duration
	found := false
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch {
			case strings.EqualFold(name, "no-store"), strings.EqualFold(name, "no-cache"):
				return 0, true
			case strings.EqualFold(name, "max-age") && !found:
				n, err := strconv.ParseUint(strings.Trim(arg, `"`), 10, 32)
				if err == nil {
					age, found = time.Duration(n)*time.Second, true
				}
			}
		}
	}
	return age, found
}

// close drops the source's idle connections.
func (s *jwksSource) close() { s.client.CloseIdleConnections() }
