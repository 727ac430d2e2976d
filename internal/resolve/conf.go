package resolve

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// conf is what a lookup without a nameserver takes from /etc/resolv.conf.
type conf struct {
	servers  []string // host:port, at most maxNameservers
	search   []string // absolute domains, each ending in a dot
	ndots    int
	timeout  time.Duration
	attempts int
}

// maxNameservers is glibc's MAXNS: later nameserver lines are ignored.
const maxNameservers = 3

// readConf parses the resolv.conf at path, with port as every server's
// port. A missing or unreadable file gives no servers, as if it were empty.
func readConf(path, port string) conf {
	c := conf{ndots: 1, timeout: 5 * time.Second, attempts: 2}
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if a, err := netip.ParseAddr(fields[1]); err == nil && len(c.servers) < maxNameservers {
				c.servers = append(c.servers, net.JoinHostPort(a.String(), port))
			}
		case "domain", "search":
			// The last domain or search line wins, as in glibc.
			c.search = c.search[:0]
			for _, d := range fields[1:] {
				if d = strings.TrimSuffix(d, "."); d != "" {
					c.search = append(c.search, d+".")
				}
			}
		case "options":
			for _, o := range fields[1:] {
				name, v, _ := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					continue
				}
				switch name {
				case "ndots":
					c.ndots = min(n, 15)
				case "timeout":
					c.timeout = time.Duration(max(n, 1)) * time.Second
				case "attempts":
					c.attempts = min(max(n, 1), 5)
				}
			}
		}
	}
	return c
}

// names returns the absolute names to ask for host, in order, after the
// search list and ndots rule of resolv.conf(5).
func (c conf) names(host string) []string {
	if strings.HasSuffix(host, ".") {
		return []string{host}
	}
	abs := host + "."
	out := make([]string, 0, len(c.search)+1)
	asWrittenFirst := strings.Count(host, ".") >= c.ndots
	if asWrittenFirst {
		out = append(out, abs)
	}
	for _, d := range c.search {
		out = append(out, abs+d)
	}
	if !asWrittenFirst {
		out = append(out, abs)
	}
	return out
}

// lookupHosts returns the addresses the hosts file at path gives host,
// compared without case and without a trailing dot; none when the file
// does not name it or cannot be read.
func lookupHosts(path, host string) []netip.Addr {
	host = strings.TrimSuffix(host, ".")
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []netip.Addr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		a, err := netip.ParseAddr(fields[0])
		if err != nil {
			continue
		}
		for _, name := range fields[1:] {
			if strings.EqualFold(strings.TrimSuffix(name, "."), host) {
				out = append(out, a.Unmap())
				break
			}
		}
	}
	return out
}
