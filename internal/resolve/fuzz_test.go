package resolve

import (
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// FuzzParse feeds parse arbitrary replies to one A query: it must never
// panic, and an answer it accepts has addresses and a TTL of at least a
// second.
func FuzzParse(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("app.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	hdr := func(name string, typ dnsmessage.Type, ttl uint32) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET, TTL: ttl}
	}
	for _, m := range []dnsmessage.Message{
		{Header: dnsmessage.Header{ID: 7, Response: true}, Questions: []dnsmessage.Question{q}, Answers: []dnsmessage.Resource{
			{Header: hdr("app.test.", dnsmessage.TypeA, 30), Body: &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}},
		}},
		{Header: dnsmessage.Header{ID: 7, Response: true}, Questions: []dnsmessage.Question{q}, Answers: []dnsmessage.Resource{
			{Header: hdr("app.test.", dnsmessage.TypeCNAME, 5), Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("b.test.")}},
			{Header: hdr("b.test.", dnsmessage.TypeCNAME, 5), Body: &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName("app.test.")}},
		}},
		{Header: dnsmessage.Header{ID: 7, Response: true, RCode: dnsmessage.RCodeNameError}, Questions: []dnsmessage.Question{q}},
		{Header: dnsmessage.Header{ID: 7, Response: true, Truncated: true}, Questions: []dnsmessage.Question{q}},
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		resp, ok := parse(msg, 7, q)
		if !ok || resp.truncated || resp.err != nil {
			return
		}
		if len(resp.answer.addrs) == 0 || resp.answer.ttl < time.Second {
			t.Errorf("parse accepted %x as %v, %v: want addresses and a TTL of at least 1s", msg, resp.answer.addrs, resp.answer.ttl)
		}
	})
}
