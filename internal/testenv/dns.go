package testenv

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSRecord is one record a DNSServer answers with: an address (A or
// AAAA by its family) or, when CNAME is set, an alias.
type DNSRecord struct {
	Addr  netip.Addr
	CNAME string
	TTL   uint32
}

// DNSServer is a loopback DNS server, UDP and TCP on one 127.0.0.1 port,
// whose zone the test changes while it runs. A name it does not hold is
// NXDOMAIN; a name it holds without a record of the asked type is an empty
// answer (NODATA). Like a recursive server, it follows the CNAME records it
// holds and puts the whole chain in the answer, NXDOMAIN when the chain
// ends at a name it does not hold.
type DNSServer struct {
	// Addr is host:port for both transports.
	Addr string

	udp *net.UDPConn
	tcp net.Listener
	wg  sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	zone     map[string][]DNSRecord
	truncate bool
	conns    map[net.Conn]bool // open TCP connections, closed with the server
	udpCount int
	tcpCount int
}

// StartDNS starts a DNSServer with an empty zone, stopped when the test
// ends.
func StartDNS(t testing.TB) *DNSServer {
	t.Helper()
	var udp *net.UDPConn
	var tcp net.Listener
	// The UDP port chosen may be taken for TCP; try a few.
	for try := 0; tcp == nil; try++ {
		var err error
		if udp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		if tcp, err = net.Listen("tcp", udp.LocalAddr().String()); err != nil {
			udp.Close()
			if try == 9 {
				t.Fatal(err)
			}
		}
	}
	s := &DNSServer{Addr: udp.LocalAddr().String(), udp: udp, tcp: tcp, zone: make(map[string][]DNSRecord), conns: make(map[net.Conn]bool)}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(func() {
		udp.Close()
		tcp.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// Set makes name answer with records, replacing what it had; no records
// makes it exist without any (NODATA).
func (s *DNSServer) Set(name string, records ...DNSRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zone[fqdn(name)] = records
}

// Remove makes name NXDOMAIN.
func (s *DNSServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zone, fqdn(name))
}

// SetTruncate makes every UDP answer truncated (TC set, no records), so a
// client has to ask again over TCP.
func (s *DNSServer) SetTruncate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = on
}

// Queries returns how many queries came over UDP and over TCP.
func (s *DNSServer) Queries() (udp, tcp int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpCount, s.tcpCount
}

func (s *DNSServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if out, ok := s.reply(buf[:n], true); ok {
			s.udp.WriteToUDPAddrPort(out, from)
		}
	}
}

func (s *DNSServer) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			for {
				var size [2]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				out, ok := s.reply(msg, false)
				if !ok {
					return
				}
				if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)); err != nil {
					return
				}
			}
		}()
	}
}

// reply builds the answer to query msg; ok is false for a message that is
// not a query with one question.
func (s *DNSServer) reply(msg []byte, overUDP bool) (out []byte, ok bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	if overUDP {
		s.udpCount++
	} else {
		s.tcpCount++
	}
	truncate := overUDP && s.truncate
	var answers []dnsmessage.Resource
	rcode := dnsmessage.RCodeSuccess
	name := strings.ToLower(q.Name.String())
	for hops := 0; hops < 16; hops++ {
		records, ok := s.zone[name]
		if !ok {
			// RFC 6604 §2.1: the code is that of the last name of the
			// chain.
			rcode = dnsmessage.RCodeNameError
			break
		}
		next := ""
		for _, r := range records {
			rh := dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Class: dnsmessage.ClassINET, TTL: r.TTL}
			switch {
			case r.CNAME != "":
				rh.Type = dnsmessage.TypeCNAME
				next = fqdn(r.CNAME)
				answers = append(answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(next)}})
			case r.Addr.Is4() && q.Type == dnsmessage.TypeA:
				rh.Type = dnsmessage.TypeA
				answers = append(answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AResource{A: r.Addr.As4()}})
			case r.Addr.Is6() && q.Type == dnsmessage.TypeAAAA:
				rh.Type = dnsmessage.TypeAAAA
				answers = append(answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AAAAResource{AAAA: r.Addr.As16()}})
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	s.mu.Unlock()

	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true, RCode: rcode, Truncated: truncate},
		Questions: []dnsmessage.Question{q},
	}
	if !truncate {
		resp.Answers = answers
	}
	out, err = resp.Pack()
	if err != nil {
		panic(errors.Join(errors.New("testenv: packing a DNS answer"), err))
	}
	return out, true
}

func fqdn(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}
