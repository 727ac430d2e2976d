package cache

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestEvaluateConditional(t *testing.T) {
	lm := t0.Add(-time.Hour)
	stored := http.Header{"Etag": {`"v1"`}, "Last-Modified": {httpDate(lm)}, "Date": {httpDate(t0)}}
	weakStored := http.Header{"Etag": {`W/"v1"`}, "Date": {httpDate(t0)}}
	for _, tc := range []struct {
		name   string
		method string
		req    http.Header
		stored http.Header
		want   int
	}{
		{"RFC 9110 §13.2.2 no preconditions", "GET", nil, stored, 0},
		{"RFC 9110 §13.1.2 If-None-Match matches", "GET", http.Header{"If-None-Match": {`"v0", "v1"`}}, stored, 304},
		{"RFC 9110 §13.1.2 If-None-Match weak comparison", "GET", http.Header{"If-None-Match": {`W/"v1"`}}, stored, 304},
		{"RFC 9110 §13.1.2 If-None-Match against a weak stored tag", "GET", http.Header{"If-None-Match": {`"v1"`}}, weakStored, 304},
		{"RFC 9110 §13.1.2 If-None-Match star", "GET", http.Header{"If-None-Match": {"*"}}, stored, 304},
		{"RFC 9110 §13.1.2 If-None-Match does not match", "GET", http.Header{"If-None-Match": {`"v2"`}}, stored, 0},
		{"RFC 9110 §13.1.2 If-None-Match on a non-GET fails", "DELETE", http.Header{"If-None-Match": {`"v1"`}}, stored, 412},
		{"RFC 9110 §13.2.2 If-None-Match wins over If-Modified-Since", "GET", http.Header{"If-None-Match": {`"v2"`}, "If-Modified-Since": {httpDate(t0)}}, stored, 0},
		{"RFC 9110 §13.1.3 If-Modified-Since not modified", "GET", http.Header{"If-Modified-Since": {httpDate(lm)}}, stored, 304},
		{"RFC 9110 §13.1.3 If-Modified-Since modified since", "GET", http.Header{"If-Modified-Since": {httpDate(lm.Add(-time.Second))}}, stored, 0},
		{"RFC 9110 §13.1.3 If-Modified-Since only for GET and HEAD", "POST", http.Header{"If-Modified-Since": {httpDate(t0)}}, stored, 0},
		{"RFC 9110 §13.1.3 If-Modified-Since invalid date ignored", "GET", http.Header{"If-Modified-Since": {"yesterday"}}, stored, 0},
		{"RFC 9111 §4.3.2 If-Modified-Since against Date without Last-Modified", "HEAD", http.Header{"If-Modified-Since": {httpDate(t0)}}, weakStored, 304},
		{"RFC 9110 §13.1.1 If-Match strong match", "GET", http.Header{"If-Match": {`"v1"`}}, stored, 0},
		{"RFC 9110 §13.1.1 If-Match weak tag fails strong comparison", "GET", http.Header{"If-Match": {`W/"v1"`}}, stored, 412},
		{"RFC 9110 §13.1.1 If-Match no match", "GET", http.Header{"If-Match": {`"v2"`}}, stored, 412},
		{"RFC 9110 §13.1.1 If-Match star", "GET", http.Header{"If-Match": {"*"}}, stored, 0},
		{"RFC 9110 §13.1.1 If-Match malformed", "GET", http.Header{"If-Match": {"v1"}}, stored, 412},
		{"RFC 9110 §13.1.4 If-Unmodified-Since modified after", "GET", http.Header{"If-Unmodified-Since": {httpDate(lm.Add(-time.Second))}}, stored, 412},
		{"RFC 9110 §13.1.4 If-Unmodified-Since not modified", "GET", http.Header{"If-Unmodified-Since": {httpDate(lm)}}, stored, 0},
		{"RFC 9110 §13.2.2 If-Match wins over If-Unmodified-Since", "GET", http.Header{"If-Match": {`"v1"`}, "If-Unmodified-Since": {httpDate(lm.Add(-time.Hour))}}, stored, 0},
		{"RFC 9110 §13.2.2 If-Match failure before If-None-Match", "GET", http.Header{"If-Match": {`"v2"`}, "If-None-Match": {`"v1"`}}, stored, 412},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://example.com/", nil)
			for k, v := range tc.req {
				r.Header[k] = v
			}
			if got := evaluateConditional(r, tc.stored); got != tc.want {
				t.Errorf("evaluateConditional(%s %v) = %d, want %d", tc.method, tc.req, got, tc.want)
			}
		})
	}
}

func TestIfRangeMatches(t *testing.T) {
	lm := t0.Add(-time.Hour)
	stored := http.Header{"Etag": {`"v1"`}, "Last-Modified": {httpDate(lm)}, "Date": {httpDate(t0)}}
	for _, tc := range []struct {
		name   string
		ifRng  []string
		stored http.Header
		want   bool
	}{
		{"RFC 9110 §13.1.5 no If-Range", nil, stored, true},
		{"RFC 9110 §13.1.5 strong ETag match", []string{`"v1"`}, stored, true},
		{"RFC 9110 §13.1.5 ETag mismatch", []string{`"v2"`}, stored, false},
		{"RFC 9110 §13.1.5 weak ETag never matches", []string{`W/"v1"`}, stored, false},
		{"RFC 9110 §13.1.5 weak stored ETag never matches", []string{`"v1"`}, http.Header{"Etag": {`W/"v1"`}}, false},
		{"RFC 9110 §13.1.5 date equal to a strong Last-Modified", []string{httpDate(lm)}, stored, true},
		{"RFC 9110 §13.1.5 date not equal", []string{httpDate(lm.Add(time.Second))}, stored, false},
		{"RFC 9110 §8.8.2.2 Last-Modified within 60s of Date is weak", []string{httpDate(t0.Add(-30 * time.Second))}, http.Header{"Last-Modified": {httpDate(t0.Add(-30 * time.Second))}, "Date": {httpDate(t0)}}, false},
		{"RFC 9110 §13.1.5 malformed", []string{"soon"}, stored, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://example.com/", nil)
			if tc.ifRng != nil {
				r.Header["If-Range"] = tc.ifRng
			}
			if got := ifRangeMatches(r, tc.stored); got != tc.want {
				t.Errorf("ifRangeMatches(%q) = %v, want %v", tc.ifRng, got, tc.want)
			}
		})
	}
}
