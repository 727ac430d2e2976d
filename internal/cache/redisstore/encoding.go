package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"palisade/internal/cache"
)

// The value stored under an entry's key is
//
//	version  byte (encodingVersion)
//	metaLen  uvarint
//	meta     metaLen bytes:
//	    status                    uvarint, 100..999 (0 in a Vary primary)
//	    body length               uvarint, what follows the metadata
//	    request, response, expiry time: varint seconds, uvarint nanoseconds
//	    freshness (version 2 only): uvarint policy, varint lifetime and
//	                              initial age in nanoseconds, varint
//	                              stale-while-revalidate and stale-if-error
//	                              seconds (-1 absent), uvarint flags
//	    header                    uvarint field count, then per field, in
//	                              increasing order of name: string name,
//	                              uvarint value count, string values
//	    vary, tags                uvarint count, strings
//	body     the rest of the value
//
// where a string is a uvarint length and its bytes. The body comes last so
// that a decoded entry's Body aliases the fetched value, and the metadata is
// length-prefixed so that its strings share one copy. The
// encoding is canonical (fields sorted, times exact), so a decoded value
// re-encodes to the same bytes; decode checks every length against what is
// left and rejects anything else, trailing bytes included.
//
// Version 2 added the freshness that cache.Entry carries precomputed.
// decode still reads version 1, written by a Palisade before it sharing the
// Redis: its entry comes back with a zero Freshness, which the cache reads
// as "judge from the header" (correct, only slower), not as a miss. encode
// always writes version 2.
const encodingVersion = 2

// legacyVersion is the encoding without freshness, still decoded.
const legacyVersion = 1

// Bounds that keep a decoded entry sane whatever the bytes say; encode
// refuses an entry beyond them, so a store never writes what it would
// reject.
const (
	minStatus = 100
	maxStatus = 999
	// minUnix and maxUnix are the first second of year 1 (the zero
	// time.Time) and the last of year 9999.
	minUnix = -62135596800
	maxUnix = 253402300799
)

var (
	// errCorrupt is returned by decode for a value that is not an encoded
	// entry: a key written by someone else, or bytes damaged in transit.
	errCorrupt = errors.New("redisstore: corrupt entry")
	// errVersion is returned by decode for an entry of another encoding
	// version, written by a newer or older Palisade sharing the Redis.
	errVersion = errors.New("redisstore: unknown entry encoding version")
)

// encode returns e's stored form.
func encode(e *cache.Entry) ([]byte, error) {
	if !validStatus(uint64(e.Status), len(e.Vary)) {
		return nil, fmt.Errorf("redisstore: encode: status %d out of range", e.Status)
	}
	for _, t := range []time.Time{e.RequestTime, e.ResponseTime, e.Expires} {
		if u := t.Unix(); u < minUnix || u > maxUnix {
			return nil, fmt.Errorf("redisstore: encode: time %v out of range", t)
		}
	}
	meta := make([]byte, 0, metaSizeHint(e))
	meta = binary.AppendUvarint(meta, uint64(e.Status))
	meta = binary.AppendUvarint(meta, uint64(len(e.Body)))
	meta = appendTime(meta, e.RequestTime)
	meta = appendTime(meta, e.ResponseTime)
	meta = appendTime(meta, e.Expires)
	meta = appendFreshness(meta, e.Freshness)
	names := make([]string, 0, len(e.Header))
	for name := range e.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	meta = binary.AppendUvarint(meta, uint64(len(names)))
	for _, name := range names {
		if name == "" {
			return nil, errors.New("redisstore: encode: empty header field name")
		}
		vv := e.Header[name]
		meta = appendString(meta, name)
		meta = binary.AppendUvarint(meta, uint64(len(vv)))
		for _, v := range vv {
			meta = appendString(meta, v)
		}
	}
	meta = appendStrings(meta, e.Vary)
	meta = appendStrings(meta, e.Tags)

	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(meta)+len(e.Body))
	out = append(out, encodingVersion)
	out = binary.AppendUvarint(out, uint64(len(meta)))
	out = append(out, meta...)
	out = append(out, e.Body...)
	return out, nil
}

// metaSizeHint estimates the metadata's encoded size, so that encoding
// grows its buffer at most once or twice.
func metaSizeHint(e *cache.Entry) int {
	n := 64
	for name, vv := range e.Header {
		n += len(name) + 4
		for _, v := range vv {
			n += len(v) + 2
		}
	}
	for _, s := range e.Vary {
		n += len(s) + 2
	}
	for _, s := range e.Tags {
		n += len(s) + 2
	}
	return n
}

// validStatus reports whether an entry with nvary Vary names may have
// status: a response's, or 0 for the primary entry that only records a
// Vary (the cache leaves its Status unset).
func validStatus(status uint64, nvary int) bool {
	return minStatus <= status && status <= maxStatus || status == 0 && nvary > 0
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendFreshness(b []byte, f cache.Freshness) []byte {
	b = binary.AppendUvarint(b, f.Policy)
	b = binary.AppendVarint(b, int64(f.Lifetime))
	b = binary.AppendVarint(b, int64(f.InitialAge))
	b = binary.AppendVarint(b, f.StaleWhileRevalidate)
	b = binary.AppendVarint(b, f.StaleIfError)
	return binary.AppendUvarint(b, uint64(f.Flags))
}

// decode parses a stored value. The entry's Body aliases b; its strings
// share one copy of the metadata. Times come back in UTC.
func decode(b []byte) (*cache.Entry, error) {
	if len(b) == 0 {
		return nil, errCorrupt
	}
	version := b[0]
	if version != encodingVersion && version != legacyVersion {
		return nil, fmt.Errorf("%w %d", errVersion, version)
	}
	metaLen, n := binary.Uvarint(b[1:])
	if n <= 0 || metaLen > uint64(len(b)-1-n) {
		return nil, errCorrupt
	}
	start := 1 + n
	d := decoder{s: string(b[start : start+int(metaLen)])}
	e := &cache.Entry{}
	status := d.uvarint()
	if status > maxStatus {
		return nil, errCorrupt
	}
	e.Status = int(status)
	body := b[start+int(metaLen):]
	if bodyLen := d.uvarint(); bodyLen != uint64(len(body)) {
		return nil, errCorrupt
	}
	e.RequestTime = d.time()
	e.ResponseTime = d.time()
	e.Expires = d.time()
	if version == encodingVersion {
		e.Freshness = d.freshness()
	}
	if nfields := d.count(); nfields > 0 {
		e.Header = make(http.Header, nfields)
		prev := ""
		for i := range nfields {
			name := d.string()
			// Names are not empty and strictly increase: no
			// duplicates, one encoding.
			if d.err == nil && (name == "" || i > 0 && name <= prev) {
				d.err = errCorrupt
			}
			prev = name
			nvalues := d.count()
			if d.err != nil {
				break
			}
			vv := make([]string, nvalues)
			for j := range vv {
				vv[j] = d.string()
			}
			e.Header[name] = vv
		}
	}
	e.Vary = d.strings()
	e.Tags = d.strings()
	if d.err != nil || len(d.s) != 0 || !validStatus(status, len(e.Vary)) {
		return nil, errCorrupt
	}
	if len(body) > 0 {
		e.Body = body
	}
	return e, nil
}

// decoder reads the metadata, remembering the first error; every read after
// it returns zero values.
type decoder struct {
	s   string
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflow
			}
			// A zero last byte after the first is a non-minimal
			// encoding; refusing it keeps the encoding canonical.
			if i > 0 && c == 0 {
				break
			}
			d.s = d.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	d.err = errCorrupt
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// count reads a count of items that each take at least one byte, so that a
// lying count cannot make decode allocate more than the value's size.
func (d *decoder) count() int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.s)) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count()
	if d.err != nil || n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}

// maxDelta bounds a stale window in seconds (RFC 9111 §1.2.2: 2^31).
const maxDelta = 1 << 31

func (d *decoder) freshness() cache.Freshness {
	f := cache.Freshness{Policy: d.uvarint()}
	f.Lifetime = time.Duration(d.varint())
	f.InitialAge = time.Duration(d.varint())
	f.StaleWhileRevalidate = d.varint()
	f.StaleIfError = d.varint()
	flags := d.uvarint()
	if d.err == nil && (flags&^uint64(cache.FreshnessFlagsMask) != 0 ||
		f.StaleWhileRevalidate < -1 || f.StaleWhileRevalidate > maxDelta ||
		f.StaleIfError < -1 || f.StaleIfError > maxDelta) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return cache.Freshness{}
	}
	f.Flags = cache.FreshnessFlags(flags)
	return f
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.err == nil && (nsec >= uint64(time.Second) || sec < minUnix || sec > maxUnix) {
		d.err = errCorrupt
	}
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
