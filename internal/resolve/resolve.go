package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ErrNotFound is returned when the DNS says the name does not exist
// (NXDOMAIN) under every name tried.
var ErrNotFound = errors.New("no such host")

// ErrNoAddresses is returned when the name exists but has no A or AAAA
// records.
var ErrNoAddresses = errors.New("no A or AAAA records")

// Resolver looks up host names with the TTL of their answers. It holds no
// cache and is safe for concurrent use.
type Resolver struct {
	log *slog.Logger
	// The system files and the port of the nameservers resolv.conf
	// names; tests point them elsewhere.
	hostsPath string
	confPath  string
	port      string
}

// New returns a Resolver that logs nameservers failing over to the next
// on log (nil: no logging).
func New(log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{log: log, hostsPath: "/etc/hosts", confPath: "/etc/resolv.conf", port: "53"}
}

// Lookup returns the addresses of host, sorted, and how long they hold: the
// smallest TTL of the answers, or 0 when unknown (a name from /etc/hosts,
// or the system resolver's answer). nameserver is host:port of the one DNS
// server to ask, or "" for the system's configuration (see the package
// documentation). ctx bounds the whole lookup, every retry included.
func (r *Resolver) Lookup(ctx context.Context, nameserver, host string) ([]netip.Addr, time.Duration, error) {
	if host == "" || host == "." {
		return nil, 0, errors.New("empty host name")
	}
	if nameserver != "" {
		name := host
		if !strings.HasSuffix(name, ".") {
			name += "."
		}
		return r.query(ctx, []string{nameserver}, name, 5*time.Second, 2)
	}
	if addrs := lookupHosts(r.hostsPath, host); len(addrs) > 0 {
		return sortAddrs(addrs), 0, nil
	}
	c := readConf(r.confPath, r.port)
	if len(c.servers) == 0 {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, 0, err
		}
		return sortAddrs(addrs), 0, nil
	}
	var errs []error
	for _, name := range c.names(host) {
		addrs, ttl, err := r.query(ctx, c.servers, name, c.timeout, c.attempts)
		if err == nil {
			return addrs, ttl, nil
		}
		// A name that does not exist, or has no addresses, moves on to the
		// next name of the search list; anything else means the servers
		// could not answer, and trying other names would only hide that.
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNoAddresses) {
			return nil, 0, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return nil, 0, errs[0]
	}
	return nil, 0, fmt.Errorf("every name of the search list failed: %w", errors.Join(errs...))
}

// query asks servers in turn, attempts times around, for the A and AAAA
// records of the absolute name. Each try gets timeout, or its share of
// what is left of ctx if that is shorter. An authoritative answer (the
// addresses, NXDOMAIN, no records) ends the search; a server that fails
// hands over to the next.
func (r *Resolver) query(ctx context.Context, servers []string, name string, timeout time.Duration, attempts int) ([]netip.Addr, time.Duration, error) {
	tries := len(servers) * attempts
	var last error
	for i := range tries {
		server := servers[i%len(servers)]
		try := timeout
		if dl, ok := ctx.Deadline(); ok {
			try = min(try, time.Until(dl)/time.Duration(tries-i))
		}
		tctx, cancel := context.WithTimeout(ctx, try)
		addrs, ttl, err := r.exchangeBoth(tctx, server, name)
		cancel()
		if err == nil {
			return addrs, ttl, nil
		}
		err = fmt.Errorf("nameserver %s: %s: %w", server, name, err)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoAddresses) {
			return nil, 0, err
		}
		if ctx.Err() != nil {
			return nil, 0, err
		}
		last = err
		if i+1 < tries {
			r.log.Debug("nameserver failed; asking again", "nameserver", server, "name", name, "error", err)
		}
	}
	return nil, 0, last
}

// exchangeBoth asks server for name's A and AAAA records at once and
// merges the answers.
func (r *Resolver) exchangeBoth(ctx context.Context, server, name string) ([]netip.Addr, time.Duration, error) {
	type result struct {
		a   answer
		err error
	}
	aaaa := make(chan result, 1)
	go func() {
		a, err := exchange(ctx, server, name, typeAAAA)
		aaaa <- result{a, err}
	}()
	a4, err4 := exchange(ctx, server, name, typeA)
	res6 := <-aaaa
	a6, err6 := res6.a, res6.err
	for _, err := range []error{err4, err6} {
		if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, errNoData) {
			return nil, 0, err
		}
	}
	if errors.Is(err4, ErrNotFound) || errors.Is(err6, ErrNotFound) {
		return nil, 0, ErrNotFound
	}
	addrs := append(a4.addrs, a6.addrs...)
	if len(addrs) == 0 {
		return nil, 0, ErrNoAddresses
	}
	ttl := time.Duration(0)
	for _, a := range []answer{a4, a6} {
		if len(a.addrs) > 0 && (ttl == 0 || a.ttl < ttl) {
			ttl = a.ttl
		}
	}
	return sortAddrs(addrs), ttl, nil
}

func sortAddrs(addrs []netip.Addr) []netip.Addr {
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return slices.Compact(addrs)
}
