package cache

import (
	"net/http"
	"testing"
	"time"
)

// t0 is the origin's clock in these tests.
var t0 = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func TestFreshnessLifetime(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name          string
		h             http.Header
		status        int
		targeted      bool
		want          time.Duration
		wantHeuristic bool
	}{
		{"§4.2.1 s-maxage beats max-age", http.Header{"Cache-Control": {"max-age=60, s-maxage=30"}}, 200, false, 30 * time.Second, false},
		{"§4.2.1 max-age beats Expires", http.Header{"Cache-Control": {"max-age=60"}, "Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(time.Hour))}}, 200, false, time.Minute, false},
		{"§4.2.1 Expires minus Date", http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(time.Hour))}}, 200, false, time.Hour, false},
		{"§4.2.1 Expires without Date uses the receipt time", http.Header{"Expires": {httpDate(t0.Add(time.Hour))}}, 200, false, 50 * time.Minute, false},
		{"§4.2.1 Expires in the past is 0", http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(-time.Hour))}}, 200, false, 0, false},
		{"§5.3 invalid Expires is already expired", http.Header{"Date": {httpDate(t0)}, "Expires": {"0"}, "Last-Modified": {httpDate(t0.Add(-10 * day))}}, 200, false, 0, false},
		{"§4.2.1 repeated Expires is stale", http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(time.Hour)), httpDate(t0.Add(time.Hour))}}, 200, false, 0, false},
		{"§5.2.2.1 duplicate max-age is stale", http.Header{"Cache-Control": {"max-age=60, max-age=600"}, "Last-Modified": {httpDate(t0.Add(-10 * day))}}, 200, false, 0, false},
		{"§4.2.2 heuristic from Last-Modified", http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}}, 200, false, time.Hour, true},
		{"§4.2.2 heuristic is capped", http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-100 * day))}}, 200, false, day, true},
		{"§4.2.2 no heuristic for a status that is not heuristically cacheable", http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}}, 302, false, 0, false},
		{"§4.2.2 public allows the heuristic for any status", http.Header{"Cache-Control": {"public"}, "Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}}, 302, false, time.Hour, true},
		{"§4.2.2 Last-Modified after Date gives no heuristic", http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(time.Hour))}}, 200, false, 0, false},
		{"§4.2.2 nothing at all is 0", http.Header{}, 200, false, 0, false},
		{"RFC 9213 §2.2 targeted directives ignore Expires", http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(time.Hour))}}, 200, true, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := parseCacheControl(tc.h["Cache-Control"])
			d.status = tc.status
			d.targeted = tc.targeted
			got, heuristic := freshnessLifetime(d, tc.h, t0.Add(10*time.Minute), 0.1, day)
			if got != tc.want || heuristic != tc.wantHeuristic {
				t.Errorf("freshnessLifetime(%v) = %v, %v, want %v, %v", tc.h, got, heuristic, tc.want, tc.wantHeuristic)
			}
		})
	}
}

func TestCurrentAge(t *testing.T) {
	req := t0
	resp := t0.Add(2 * time.Second)
	for _, tc := range []struct {
		name string
		h    http.Header
		now  time.Time
		want time.Duration
	}{
		{"§4.2.3 fresh from the origin: response delay only", http.Header{"Date": {httpDate(t0)}}, resp, 2 * time.Second},
		{"§4.2.3 resident time counts", http.Header{"Date": {httpDate(t0)}}, resp.Add(time.Minute), time.Minute + 2*time.Second},
		{"§4.2.3 Age header from upstream counts", http.Header{"Date": {httpDate(t0)}, "Age": {"100"}}, resp, 102 * time.Second},
		{"§4.2.3 apparent age from a Date in the past wins", http.Header{"Date": {httpDate(t0.Add(-time.Hour))}, "Age": {"10"}}, resp, time.Hour + 2*time.Second},
		{"§4.2.3 Date in the future gives no negative age", http.Header{"Date": {httpDate(t0.Add(time.Hour))}}, resp, 2 * time.Second},
		{"§4.2.3 no Date: date_value is the response time", http.Header{}, resp, 2 * time.Second},
		{"§5.1 list-based Age: first member", http.Header{"Date": {httpDate(t0)}, "Age": {"30, 60"}}, resp, 32 * time.Second},
		{"§5.1 invalid Age ignored", http.Header{"Date": {httpDate(t0)}, "Age": {"-5"}}, resp, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := currentAge(tc.h, req, resp, tc.now); got != tc.want {
				t.Errorf("currentAge(%v) = %v, want %v", tc.h, got, tc.want)
			}
		})
	}
}

func TestResponseDirectivesHeuristic(t *testing.T) {
	h := http.Header{"Date": {httpDate(t0)}, "Last-Modified": {httpDate(t0.Add(-10 * time.Hour))}}
	for _, tc := range []struct {
		name   string
		status int
		want   time.Duration
	}{
		{"§4.2.2 heuristic for a 404", 404, time.Hour},
		{"§4.2.2 no heuristic for a 307", 307, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := responseDirectives(tc.status, h, "Palisade-Cache-Control", true)
			if got, _ := freshnessLifetime(d, h, t0, 0.1, 0); got != tc.want {
				t.Errorf("freshnessLifetime for %d = %v, want %v", tc.status, got, tc.want)
			}
		})
	}
}
