package resolve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	typeA    = dnsmessage.TypeA
	typeAAAA = dnsmessage.TypeAAAA
)

// udpPayload is the EDNS(0) payload size advertised, the value DNS Flag
// Day 2020 settled on to avoid IP fragmentation.
const udpPayload = 1232

// maxCNAMEs bounds the CNAME chain followed in one answer.
const maxCNAMEs = 8

// errNoData is an answer without a record of the asked type (NODATA); the
// lookup turns it into ErrNoAddresses when neither type has any.
var errNoData = errors.New("no records of the type asked")

// answer is the useful part of one response.
type answer struct {
	addrs []netip.Addr
	ttl   time.Duration
}

// exchange asks server for the qtype records of name over UDP, and over
// TCP when the UDP answer is truncated.
func exchange(ctx context.Context, server, name string, qtype dnsmessage.Type) (answer, error) {
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return answer{}, fmt.Errorf("invalid name: %w", err)
	}
	q := dnsmessage.Question{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}
	id := uint16(rand.Uint32())
	msg, err := newQuery(id, q)
	if err != nil {
		return answer{}, err
	}
	resp, err := exchangeUDP(ctx, server, id, q, msg)
	if err != nil {
		return answer{}, err
	}
	if resp.truncated {
		// RFC 7766 §5: a truncated answer is repeated over TCP.
		if resp, err = exchangeTCP(ctx, server, id, q, msg); err != nil {
			return answer{}, fmt.Errorf("over tcp after a truncated answer: %w", err)
		}
	}
	return resp.answer, resp.err
}

func newQuery(id uint16, q dnsmessage.Question) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	var opt dnsmessage.ResourceHeader
	err := b.StartQuestions()
	if err == nil {
		err = b.Question(q)
	}
	if err == nil {
		err = b.StartAdditionals()
	}
	if err == nil {
		err = opt.SetEDNS0(udpPayload, dnsmessage.RCodeSuccess, false)
	}
	if err == nil {
		err = b.OPTResource(opt, dnsmessage.OPTResource{})
	}
	if err != nil {
		return nil, fmt.Errorf("building the query: %w", err)
	}
	return b.Finish()
}

// response is one parsed reply: truncated, or the answer or why there is
// none.
type response struct {
	truncated bool
	answer    answer
	err       error
}

// exchangeUDP sends msg and waits for the reply that matches id and q,
// ignoring any other datagram (a late reply to an earlier query, or a
// forged one) until ctx ends.
func exchangeUDP(ctx context.Context, server string, id uint16, q dnsmessage.Question, msg []byte) (response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	stop := bindDeadline(ctx, c)
	defer stop()
	if _, err := c.Write(msg); err != nil {
		return response{}, ctxErr(ctx, err)
	}
	buf := make([]byte, udpPayload+512)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return response{}, ctxErr(ctx, err)
		}
		resp, ok := parse(buf[:n], id, q)
		if ok {
			return resp, nil
		}
	}
}

// exchangeTCP sends msg with its two-byte length (RFC 1035 §4.2.2) and
// reads one reply.
func exchangeTCP(ctx context.Context, server string, id uint16, q dnsmessage.Question, msg []byte) (response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", server)
	if err != nil {
		return response{}, err
	}
	defer c.Close()
	stop := bindDeadline(ctx, c)
	defer stop()
	framed := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg)))
	if _, err := c.Write(append(framed, msg...)); err != nil {
		return response{}, ctxErr(ctx, err)
	}
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return response{}, ctxErr(ctx, err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return response{}, ctxErr(ctx, err)
	}
	resp, ok := parse(buf, id, q)
	if !ok {
		return response{}, errors.New("the reply does not match the query")
	}
	return resp, nil
}

// bindDeadline makes c's reads and writes fail when ctx ends; the returned
// function undoes it.
func bindDeadline(ctx context.Context, c net.Conn) (stop func() bool) {
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	return context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
}

// ctxErr prefers ctx's reason over the I/O error it caused. The socket's
// deadline is ctx's, and may pass a moment before ctx reports it.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("no answer: %w", context.Cause(ctx))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("no answer: %w", context.DeadlineExceeded)
	}
	return err
}

// parse decodes msg as the reply to the query id for q; ok is false when
// it is not one (another ID, not a response, another question, or not a
// DNS message at all).
func parse(msg []byte, id uint16, q dnsmessage.Question) (resp response, ok bool) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.ID != id || !h.Response {
		return response{}, false
	}
	got, err := p.Question()
	if err != nil || got.Type != q.Type || got.Class != q.Class || !strings.EqualFold(got.Name.String(), q.Name.String()) {
		return response{}, false
	}
	if h.Truncated {
		return response{truncated: true}, true
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return response{err: ErrNotFound}, true
	default:
		return response{err: fmt.Errorf("the server answered %s", strings.TrimPrefix(h.RCode.String(), "RCode"))}, true
	}
	if err := p.SkipAllQuestions(); err != nil {
		return response{err: fmt.Errorf("malformed reply: %w", err)}, true
	}
	a, err := answers(&p, q)
	return response{answer: a, err: err}, true
}

// answers follows the CNAME chain from q's name through the answer section
// and returns the records of q's type at its end, with the smallest TTL
// seen on the way.
func answers(p *dnsmessage.Parser, q dnsmessage.Question) (answer, error) {
	type record struct {
		name string
		addr netip.Addr
		ttl  uint32
	}
	type alias struct {
		target string
		ttl    uint32
	}
	var records []record
	cnames := make(map[string]alias)
	for {
		h, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return answer{}, fmt.Errorf("malformed reply: %w", err)
		}
		name := strings.ToLower(h.Name.String())
		switch {
		case h.Class != dnsmessage.ClassINET:
			err = p.SkipAnswer()
		case h.Type == dnsmessage.TypeCNAME:
			var r dnsmessage.CNAMEResource
			if r, err = p.CNAMEResource(); err == nil {
				cnames[name] = alias{strings.ToLower(r.CNAME.String()), ttlOf(h)}
			}
		case h.Type == typeA && q.Type == typeA:
			var r dnsmessage.AResource
			if r, err = p.AResource(); err == nil {
				records = append(records, record{name, netip.AddrFrom4(r.A), ttlOf(h)})
			}
		case h.Type == typeAAAA && q.Type == typeAAAA:
			var r dnsmessage.AAAAResource
			if r, err = p.AAAAResource(); err == nil {
				records = append(records, record{name, netip.AddrFrom16(r.AAAA), ttlOf(h)})
			}
		default:
			err = p.SkipAnswer()
		}
		if err != nil {
			return answer{}, fmt.Errorf("malformed reply: %w", err)
		}
	}
	name := strings.ToLower(q.Name.String())
	ttl := uint32(math.MaxUint32)
	for hops := 0; ; hops++ {
		a, ok := cnames[name]
		if !ok {
			break
		}
		if hops == maxCNAMEs {
			return answer{}, fmt.Errorf("more than %d CNAME records in a chain", maxCNAMEs)
		}
		ttl = min(ttl, a.ttl)
		name = a.target
	}
	var out answer
	for _, r := range records {
		if r.name == name {
			out.addrs = append(out.addrs, r.addr)
			ttl = min(ttl, r.ttl)
		}
	}
	if len(out.addrs) == 0 {
		return answer{}, errNoData
	}
	// A TTL of 0 (do not cache) is reported as a second, the shortest
	// refresh, so that 0 keeps meaning "no TTL known".
	out.ttl = max(time.Duration(ttl)*time.Second, time.Second)
	return out, nil
}

// ttlOf returns h's TTL; RFC 2181 §8: a value with the top bit set is read
// as 0.
func ttlOf(h dnsmessage.ResourceHeader) uint32 {
	if h.TTL > math.MaxInt32 {
		return 0
	}
	return h.TTL
}
