package redisstore

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"palisade/internal/cache"
)

// sampleEntries are entries every encoding test round-trips: the shapes
// the cache stores (a response with everything, a bare one, a Vary
// primary, binary bodies) and edge values (zero times, empty values).
func sampleEntries() map[string]*cache.Entry {
	t0 := time.Date(2026, 12, 4, 10, 30, 0, 123456789, time.UTC)
	body := make([]byte, 300)
	for i := range body {
		body[i] = byte(i)
	}
	return map[string]*cache.Entry{
		"full response": {
			Status: 200,
			Header: http.Header{
				"Content-Type":  {"text/html; charset=utf-8"},
				"Cache-Control": {"max-age=60", "s-maxage=120"},
				"Etag":          {`"abc"`},
				"Set-Cookie":    {"a=1", "b=2"},
			},
			Body:         []byte("<h1>hello</h1>"),
			RequestTime:  t0,
			ResponseTime: t0.Add(3 * time.Millisecond),
			Tags:         []string{"product", "product-42"},
			Expires:      t0.Add(time.Hour),
		},
		"bare status": {Status: 204, Expires: t0},
		"vary primary": {
			Status:  200,
			Vary:    []string{"Accept-Encoding", "Accept-Language"},
			Expires: t0.Add(time.Minute),
		},
		// Regression: the primary entry the cache writes for a
		// response with Vary has no Status, which encode refused
		// ("status 0 out of range"), so the primary was never stored
		// and no response with Vary was ever a hit in a Redis zone.
		"vary primary as the cache writes it": {
			Vary:         []string{"Accept-Language"},
			RequestTime:  t0,
			ResponseTime: t0,
			Expires:      t0.Add(time.Minute),
		},
		"binary body": {Status: 206, Header: http.Header{"Content-Range": {"bytes 0-299/1000"}}, Body: body, Expires: t0},
		"zero times":  {Status: 404, Header: http.Header{"X-Empty": {""}, "X-None": {}}},
		"non-ascii":   {Status: 999, Header: http.Header{"X-Name": {"Zoë 東京"}}, Tags: []string{"é", ""}, Expires: t0},
		"old and far": {Status: 100, RequestTime: time.Unix(minUnix, 0), ResponseTime: time.Unix(maxUnix, 999999999), Expires: time.Unix(-1, 5)},
	}
}

// sameEntry reports how got differs from want, or "" when it does not: a
// decoded entry has the same fields, times equal as instants.
func sameEntry(got, want *cache.Entry) string {
	switch {
	case got.Status != want.Status:
		return "Status"
	case !reflect.DeepEqual(got.Header, want.Header) && !(len(got.Header) == 0 && len(want.Header) == 0):
		return "Header"
	case !bytes.Equal(got.Body, want.Body):
		return "Body"
	case !got.RequestTime.Equal(want.RequestTime):
		return "RequestTime"
	case !got.ResponseTime.Equal(want.ResponseTime):
		return "ResponseTime"
	case !got.Expires.Equal(want.Expires):
		return "Expires"
	case !reflect.DeepEqual(got.Vary, want.Vary) && !(len(got.Vary) == 0 && len(want.Vary) == 0):
		return "Vary"
	case !reflect.DeepEqual(got.Tags, want.Tags) && !(len(got.Tags) == 0 && len(want.Tags) == 0):
		return "Tags"
	}
	return ""
}

func TestEncodeRoundTrip(t *testing.T) {
	for name, e := range sampleEntries() {
		t.Run(name, func(t *testing.T) {
			b, err := encode(e)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := decode(b)
			if err != nil {
				t.Fatalf("decode(encode(e)): %v", err)
			}
			if field := sameEntry(got, e); field != "" {
				t.Errorf("decode(encode(e)).%s = %+v, want %+v", field, got, e)
			}
			again, err := encode(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("encode(decode(b)) = %q, %v; want the same bytes %q", again, err, b)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    *cache.Entry
	}{
		{"status below 100", &cache.Entry{Status: 99}},
		{"status 0 without vary", &cache.Entry{Status: 0, Header: http.Header{"X": {"y"}}}},
		{"status above 999", &cache.Entry{Status: 1000}},
		{"empty field name", &cache.Entry{Status: 200, Header: http.Header{"": {"x"}}}},
		{"time past year 9999", &cache.Entry{Status: 200, Expires: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := encode(tc.e); err == nil {
				t.Errorf("encode(%+v) = %q, nil; want an error", tc.e, b)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	valid, err := encode(sampleEntries()["full response"])
	if err != nil {
		t.Fatal(err)
	}
	// Every strict prefix of a valid value is short of something.
	for n := range len(valid) {
		if e, err := decode(valid[:n]); err == nil {
			t.Errorf("decode(valid[:%d]) = %+v, nil; want an error", n, e)
		}
	}
	// The cases below are minimal values with one thing wrong; this is
	// the value they start from.
	if _, err := decode(raw(0xc8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)); err != nil {
		t.Fatalf("decode(minimal 200) = %v, want nil", err)
	}
	if _, err := decode(mustEncodeRaw(t, "A", "B")); err != nil {
		t.Fatalf("decode(fields A, B) = %v, want nil", err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errCorrupt},
		{"another version", append([]byte{3}, valid[1:]...), errVersion},
		{"trailing byte", append(bytes.Clone(valid), 0), errCorrupt},
		{"meta length past the end", []byte{1, 0x7f, 0xc8, 0x01}, errCorrupt},
		{"status 0", raw(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), errCorrupt},
		{"status 1000", raw(0xe8, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), errCorrupt},
		{"body shorter than its length", raw(0xc8, 0x01, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0), errCorrupt},
		{"huge field count", raw(0xc8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x7f), errCorrupt},
		{"string past the end", raw(0xc8, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 9, 'A'), errCorrupt},
		{"non-minimal varint", raw(0xc8, 0x81, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), errCorrupt},
		{"varint overflow", raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02), errCorrupt},
		{"nanoseconds past a second", raw(0xc8, 0x01, 0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0, 0, 0, 0, 0, 0), errCorrupt},
		{"seconds past year 9999", raw(0xc8, 0x01, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0), errCorrupt},
		{"empty field name", mustEncodeRaw(t, ""), errCorrupt},
		{"duplicate field", mustEncodeRaw(t, "A", "A"), errCorrupt},
		{"fields out of order", mustEncodeRaw(t, "B", "A"), errCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := decode(tc.b)
			if !errors.Is(err, tc.want) {
				t.Errorf("decode(%q) = %+v, %v; want %v", tc.b, e, err, tc.want)
			}
		})
	}
}

// raw frames meta as a stored value of the legacy version (no
// freshness) with an empty body.
func raw(meta ...byte) []byte {
	return append([]byte{legacyVersion, byte(len(meta))}, meta...)
}

// mustEncodeRaw encodes a 200 with one empty value per field name, in the
// order given, bypassing encode's sorting.
func mustEncodeRaw(t *testing.T, names ...string) []byte {
	t.Helper()
	var meta []byte
	meta = append(meta, 0xc8, 0x01, 0)    // status 200, empty body
	meta = append(meta, 0, 0, 0, 0, 0, 0) // three zero-second times
	meta = append(meta, byte(len(names)))
	for _, n := range names {
		meta = appendString(meta, n)
		meta = append(meta, 1, 0) // one empty value
	}
	meta = append(meta, 0, 0) // no vary, no tags
	return raw(meta...)
}

// FuzzDecode checks that decode rejects what is not an encoded entry
// without panicking or allocating beyond the input's size, and that what
// it accepts re-encodes to the same bytes (the encoding is canonical).
func FuzzDecode(f *testing.F) {
	for _, e := range sampleEntries() {
		b, err := encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, e := range freshEntries() {
		b, err := encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decode(b)
		if err != nil {
			if !errors.Is(err, errCorrupt) && !errors.Is(err, errVersion) {
				t.Fatalf("decode(%q) = %v, want errCorrupt or errVersion", b, err)
			}
			return
		}
		again, err := encode(e)
		if err != nil {
			t.Fatalf("encode(decode(%q)) = %v", b, err)
		}
		if b[0] == legacyVersion {
			// A legacy value re-encodes as the current version, to the
			// same entry.
			back, err := decode(again)
			if err != nil {
				t.Fatalf("decode(encode(decode(%q))) = %v", b, err)
			}
			if field := sameEntry(back, e); field != "" || back.Freshness != (cache.Freshness{}) {
				t.Fatalf("decode(encode(decode(%q))) differs in %s", b, field)
			}
			return
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("encode(decode(%q)) = %q, want the input back", b, again)
		}
	})
}

// freshEntries are entries with the precomputed freshness of encoding
// version 2.
func freshEntries() map[string]*cache.Entry {
	t0 := time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)
	return map[string]*cache.Entry{
		"fresh response": {
			Status:       200,
			Header:       http.Header{"Cache-Control": {"max-age=60, stale-while-revalidate=30, immutable"}},
			Body:         []byte("hello"),
			RequestTime:  t0,
			ResponseTime: t0.Add(time.Millisecond),
			Expires:      t0.Add(90 * time.Second),
			Freshness: cache.Freshness{Policy: 0x9e3779b97f4a7c15, Lifetime: time.Minute, InitialAge: 5 * time.Second,
				StaleWhileRevalidate: 30, StaleIfError: -1, Flags: cache.FreshImmutable},
		},
		"must revalidate": {
			Status:    200,
			Header:    http.Header{"Cache-Control": {"s-maxage=0, must-revalidate, no-cache"}},
			Expires:   t0,
			Freshness: cache.Freshness{Policy: 1, StaleWhileRevalidate: -1, StaleIfError: maxDelta, Flags: cache.FreshnessFlagsMask &^ cache.FreshImmutable},
		},
		"negative age": {Status: 204, Freshness: cache.Freshness{Policy: 7, Lifetime: -1, InitialAge: -time.Hour, StaleWhileRevalidate: -1, StaleIfError: -1}},
	}
}

// TestEncodeFreshness: the precomputed freshness survives the round trip,
// and a legacy (version 1) value still decodes, with none.
func TestEncodeFreshness(t *testing.T) {
	for name, e := range freshEntries() {
		t.Run(name, func(t *testing.T) {
			b, err := encode(e)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if b[0] != encodingVersion {
				t.Errorf("encode wrote version %d, want %d", b[0], encodingVersion)
			}
			got, err := decode(b)
			if err != nil {
				t.Fatalf("decode(encode(e)): %v", err)
			}
			if got.Freshness != e.Freshness || sameEntry(got, e) != "" {
				t.Errorf("decode(encode(e)).Freshness = %+v, want %+v", got.Freshness, e.Freshness)
			}
		})
	}
	legacy := raw(0xc8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	e, err := decode(legacy)
	if err != nil {
		t.Fatalf("decode(a version 1 value) = %v, want it read", err)
	}
	if e.Status != 200 || e.Freshness != (cache.Freshness{}) {
		t.Errorf("decode(a version 1 value) = %+v, want a 200 with no freshness", e)
	}
	for _, tc := range []struct {
		name string
		f    cache.Freshness
	}{
		{"unknown flag", cache.Freshness{Flags: 1 << 7}},
		{"stale window below -1", cache.Freshness{StaleWhileRevalidate: -2}},
		{"stale window past 2^31", cache.Freshness{StaleIfError: maxDelta + 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encode(&cache.Entry{Status: 200, Freshness: tc.f})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decode(b); !errors.Is(err, errCorrupt) {
				t.Errorf("decode(freshness %+v) = %v, want errCorrupt", tc.f, err)
			}
		})
	}
}
