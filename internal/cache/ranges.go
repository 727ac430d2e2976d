package cache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"palisade/internal/httpsyntax"
)

// byteRange is one satisfiable byte range of a representation: length
// bytes from start.
type byteRange struct{ start, length int64 }

// errUnsatisfiable is parseRange's answer to a Range none of whose ranges
// is satisfiable: the caller sends 416 with serveUnsatisfiable.
var errUnsatisfiable = errors.New("range not satisfiable")

// maxRanges bounds the range-specs of one Range field; a request with more
// is served whole (RFC 9110 §14.2 lets a server ignore a Range field, and
// §17.15 names many small ranges as a denial-of-service vector).
const maxRanges = 100

// parseRange parses a Range field value (RFC 9110 §14.1.2) against a
// representation of size bytes and returns the satisfiable ranges, with
// those that overlap or touch coalesced (RFC 9110 §15.3.7.2 allows it,
// whatever their order) and the others in the order they were asked for.
//
// It returns nil, nil, meaning "ignore the Range field and send 200", for
// a unit other than bytes (compared case-insensitively, §14.1), an invalid
// ranges-specifier (last-pos before first-pos included, §14.1.1), more
// than maxRanges range-specs, ranges whose lengths add up to more than
// twice the representation (absurd overlap, §17.15), and a zero-length
// representation, which has no byte to send. It returns errUnsatisfiable
// when no range is satisfiable (§14.1.1: an int-range whose first-pos is
// at or past size, or a suffix-range of length 0).
func parseRange(s string, size int64) ([]byteRange, error) {
	unit, set, ok := strings.Cut(httpsyntax.TrimOWS(s), "=")
	if !ok || !strings.EqualFold(httpsyntax.TrimOWS(unit), "bytes") || size <= 0 {
		return nil, nil
	}
	var ranges []byteRange
	var specs int
	var total int64
	for set != "" {
		var spec string
		spec, set, _ = strings.Cut(set, ",")
		if spec = httpsyntax.TrimOWS(spec); spec == "" {
			continue // RFC 9110 §5.6.1: empty list elements are ignored.
		}
		if specs++; specs > maxRanges {
			return nil, nil
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, nil
		}
		var r byteRange
		if first == "" {
			// suffix-range: the last n bytes.
			n, ok := parseRangePos(last)
			if !ok {
				return nil, nil
			}
			if n == 0 {
				continue
			}
			r.start = max(0, size-n)
			r.length = size - r.start
		} else {
			start, ok := parseRangePos(first)
			if !ok {
				return nil, nil
			}
			end := int64(-1)
			if last != "" {
				if end, ok = parseRangePos(last); !ok || end < start {
					return nil, nil
				}
			}
			if start >= size {
				continue
			}
			if end < 0 || end >= size {
				end = size - 1
			}
			r.start, r.length = start, end-start+1
		}
		total += r.length
		ranges = append(ranges, r)
	}
	if specs == 0 {
		return nil, nil
	}
	if len(ranges) == 0 {
		return nil, errUnsatisfiable
	}
	if total > 2*size {
		return nil, nil
	}
	return coalesceRanges(ranges), nil
}

// parseRangePos parses 1*DIGIT, saturating instead of overflowing: a
// position past any representation is simply unsatisfiable.
func parseRangePos(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v < 1<<58 {
			v = v*10 + int64(c-'0')
		}
	}
	return v, true
}

// coalesceRanges merges ranges that overlap or touch. A merged range takes
// the place of the first of its members; the others keep their order.
func coalesceRanges(rs []byteRange) []byteRange {
	if len(rs) < 2 {
		return rs
	}
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if rs[a].start != rs[b].start {
			return cmpInt64(rs[a].start, rs[b].start)
		}
		return a - b
	})
	type group struct {
		r     byteRange
		first int // the smallest index of the request's order among its members
	}
	var groups []group
	for _, i := range order {
		r := rs[i]
		if n := len(groups); n > 0 {
			g := &groups[n-1]
			if end := g.r.start + g.r.length; r.start <= end {
				if e := r.start + r.length; e > end {
					g.r.length = e - g.r.start
				}
				g.first = min(g.first, i)
				continue
			}
		}
		groups = append(groups, group{r, i})
	}
	if len(groups) == len(rs) {
		return rs
	}
	slices.SortFunc(groups, func(a, b group) int { return a.first - b.first })
	out := rs[:0]
	for _, g := range groups {
		out = append(out, g.r)
	}
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// serveRanges writes a response made of ranges of body to w, with the
// fields of h (the stored header, which it does not modify): a 206 with
// Content-Range for one range, a 206 multipart/byteranges (RFC 9110 §14.6)
// with a part per range for several, each with the right Content-Length
// (RFC 9110 §15.3.7). With no ranges it writes status and the whole body.
// A HEAD response is the caller's: its ResponseWriter discards the body.
func serveRanges(w http.ResponseWriter, status int, h http.Header, body []byte, ranges []byteRange) {
	dst := w.Header()
	for k, v := range h {
		switch k {
		case "Content-Length", "Content-Range":
			continue
		}
		dst[k] = v[:len(v):len(v)] // never appended to in place: h is shared
	}
	size := int64(len(body))
	switch len(ranges) {
	case 0:
		dst["Content-Length"] = []string{strconv.FormatInt(size, 10)}
		w.WriteHeader(status)
		w.Write(body)
		return
	case 1:
		r := ranges[0]
		dst["Content-Range"] = []string{contentRange(r, size)}
		dst["Content-Length"] = []string{strconv.FormatInt(r.length, 10)}
		w.WriteHeader(http.StatusPartialContent)
		w.Write(body[r.start : r.start+r.length])
		return
	}
	boundary := newBoundary()
	ctype := firstValue(h, "Content-Type")
	heads := make([]string, len(ranges))
	length := int64(0)
	for i, r := range ranges {
		// mime/multipart's framing: the first delimiter has no leading
		// CRLF, and the close delimiter ends the body.
		var b strings.Builder
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("--" + boundary + "\r\n")
		if ctype != "" {
			b.WriteString("Content-Type: " + ctype + "\r\n")
		}
		b.WriteString("Content-Range: " + contentRange(r, size) + "\r\n\r\n")
		heads[i] = b.String()
		length += int64(len(heads[i])) + r.length
	}
	tail := "\r\n--" + boundary + "--\r\n"
	length += int64(len(tail))
	dst["Content-Type"] = []string{"multipart/byteranges; boundary=" + boundary}
	dst["Content-Length"] = []string{strconv.FormatInt(length, 10)}
	w.WriteHeader(http.StatusPartialContent)
	for i, r := range ranges {
		if _, err := w.Write([]byte(heads[i])); err != nil {
			return
		}
		if _, err := w.Write(body[r.start : r.start+r.length]); err != nil {
			return
		}
	}
	w.Write([]byte(tail))
}

// serveUnsatisfiable writes the 416 of a Range that parseRange found
// unsatisfiable, with Content-Range: bytes */size (RFC 9110 §15.5.17).
func serveUnsatisfiable(w http.ResponseWriter, size int64) {
	h := w.Header()
	h["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
	h["Content-Length"] = []string{"0"}
	delete(h, "Content-Type")
	w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
}

// contentRange formats "bytes first-last/size" (RFC 9110 §14.4).
func contentRange(r byteRange, size int64) string {
	b := make([]byte, 0, 64)
	b = append(b, "bytes "...)
	b = strconv.AppendInt(b, r.start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.start+r.length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}

// newBoundary returns a random multipart boundary (RFC 2046 §5.1.1); with
// 128 random bits it does not occur in any body.
func newBoundary() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
