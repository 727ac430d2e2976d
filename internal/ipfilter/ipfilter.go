package ipfilter

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"

	"palisade/internal/config"
	"palisade/internal/middleware"
)

// ErrDenied is the error a refused request is answered (and logged) with.
var ErrDenied = errors.New("client address denied by ip filter")

// Matcher decides whether an address may pass. It is immutable once
// compiled and safe for concurrent use.
type Matcher struct {
	allow, deny []netip.Prefix // disjoint, unmapped, sorted by address
}

// Compile returns the Matcher of cfg. It keeps no reference to cfg's
// slices.
func Compile(cfg config.IPFilter) *Matcher {
	return &Matcher{allow: compileList(cfg.Allow), deny: compileList(cfg.Deny)}
}

// compileList unmaps, sorts and de-nests ps.
func compileList(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	// By address, then the wider prefix first, so that a prefix nested in
	// another follows it and is dropped below.
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	kept := out[:0]
	for _, p := range out {
		if n := len(kept); n > 0 && kept[n-1].Overlaps(p) {
			// Sorted by start, widest first: an overlapping
			// later prefix lies inside the kept one.
			continue
		}
		kept = append(kept, p)
	}
	return slices.Clip(kept)
}

// contains reports whether addr lies in one of ps (compiled).
func contains(ps []netip.Prefix, addr netip.Addr) bool {
	// The last prefix whose address is at or before addr.
	lo, hi := 0, len(ps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ps[m].Addr().Compare(addr) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && ps[lo-1].Contains(addr)
}

// Allowed reports whether addr may pass: not in a deny prefix, and in an
// allow prefix when there is an allow list. IPv4-mapped addresses are
// unmapped and an IPv6 zone is ignored; an invalid address never passes.
func (m *Matcher) Allowed(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	if contains(m.deny, addr) {
		return false
	}
	return len(m.allow) == 0 || contains(m.allow, addr)
}

// New returns the ip-filter middleware of one route. cfg has been
// validated. A refused request gets 403 with a request ID; the reason goes
// to the access log, never to the client.
func New(cfg config.IPFilter, log *slog.Logger) (middleware.Middleware, error) {
	if len(cfg.Allow) == 0 && len(cfg.Deny) == 0 {
		return nil, errors.New("neither allow nor deny is set")
	}
	m := Compile(cfg)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !m.Allowed(middleware.StateFrom(r.Context()).ClientIP) {
				middleware.WriteError(w, r, http.StatusForbidden, ErrDenied)
				return
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
