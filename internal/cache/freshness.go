package cache

import (
	"net/http"
	"time"

	"palisade/internal/httpsyntax"
)

// freshnessLifetime returns the freshness lifetime of a response with
// directives cc and header h as a shared cache computes it (RFC 9111
// §4.2.1): s-maxage, else max-age, else Expires minus Date (an invalid or
// repeated Expires means already expired, §5.3 and §4.2.1), else a
// heuristic (§4.2.2). heuristic reports that the last was used. now stands
// for the time the response was received when it has no valid Date (RFC
// 9110 §6.6.1).
//
// The heuristic applies only to a heuristically cacheable status (RFC 9110
// §15.1) or a response marked public (RFC 9111 §4.2.2); the status is
// cc.status, and when that is 0 (unknown) freshnessLifetime trusts storable
// to have refused the others. It is computed only from a
// valid Last-Modified earlier than Date: heuristicFraction of that
// interval, at most heuristicMax. Without it the lifetime is 0 and
// heuristic false; a route's default TTL is the caller's to apply. Directives
// from a targeted field (cc.targeted) make Expires ignored (RFC 9213 §2.2).
//
// It allocates nothing.
func freshnessLifetime(cc directives, h http.Header, now time.Time, heuristicFraction float64, heuristicMax time.Duration) (lifetime time.Duration, heuristic bool) {
	switch {
	case cc.sMaxAge >= 0:
		// RFC 9111 §5.2.2.10: a shared cache prefers s-maxage.
		return deltaDuration(cc.sMaxAge), false
	case cc.maxAge >= 0:
		return deltaDuration(cc.maxAge), false
	}
	if exp, present := h["Expires"]; present && !cc.targeted {
		if len(exp) != 1 {
			return 0, false // RFC 9111 §4.2.1: repeated, considered stale.
		}
		expires, ok := parseHTTPDate(exp[0])
		if !ok {
			return 0, false // RFC 9111 §5.3: an invalid date is in the past.
		}
		if lifetime = expires.Sub(responseDate(h, now)); lifetime < 0 {
			lifetime = 0
		}
		return lifetime, false
	}
	if heuristicFraction <= 0 || !(cc.public || cc.status == 0 || heuristicallyCacheable(cc.status)) {
		return 0, false
	}
	return heuristicLifetime(h, now, heuristicFraction, heuristicMax)
}

// heuristicLifetime is RFC 9111 §4.2.2's heuristic from Last-Modified.
func heuristicLifetime(h http.Header, now time.Time, fraction float64, maxLifetime time.Duration) (time.Duration, bool) {
	lm := h["Last-Modified"]
	if len(lm) != 1 {
		return 0, false
	}
	modified, ok := parseHTTPDate(lm[0])
	if !ok {
		return 0, false
	}
	since := responseDate(h, now).Sub(modified)
	if since <= 0 {
		return 0, false
	}
	lifetime := time.Duration(float64(since) * fraction)
	if maxLifetime > 0 && lifetime > maxLifetime {
		lifetime = maxLifetime
	}
	return lifetime, true
}

// hasExplicitFreshness reports whether a response carries explicit
// freshness information (RFC 9111 §4.2.1): s-maxage, max-age or, unless
// targeted directives apply, Expires.
func hasExplicitFreshness(cc directives, h http.Header) bool {
	if cc.sMaxAge >= 0 || cc.maxAge >= 0 {
		return true
	}
	_, ok := h["Expires"]
	return ok && !cc.targeted
}

// responseDate is the response's Date, or now when it has no valid one
// (RFC 9110 §6.6.1: a recipient without one uses its receipt time).
func responseDate(h http.Header, now time.Time) time.Time {
	if d := h["Date"]; len(d) == 1 {
		if t, ok := parseHTTPDate(d[0]); ok {
			return t
		}
	}
	return now
}

// deltaDuration converts delta-seconds, at most 2^31, to a Duration.
func deltaDuration(s int64) time.Duration { return time.Duration(s) * time.Second }

// currentAge returns the current age of a stored response with header h,
// requested at requestTime and received at responseTime, at now, exactly
// as RFC 9111 §4.2.3 computes it:
//
//	apparent_age = max(0, response_time - date_value)
//	response_delay = response_time - request_time
//	corrected_age_value = age_value + response_delay
//	corrected_initial_age = max(apparent_age, corrected_age_value)
//	resident_time = now - response_time
//	current_age = corrected_initial_age + resident_time
//
// age_value is the first member of Age, ignored when invalid (§5.1);
// without a valid Date, date_value is response_time (RFC 9110 §6.6.1).
// response_delay and resident_time are floored at 0, which changes nothing
// on one clock and keeps a store shared by hosts with skewed clocks from
// making an age smaller. It allocates nothing.
func currentAge(h http.Header, requestTime, responseTime, now time.Time) time.Duration {
	apparentAge := max(0, responseTime.Sub(responseDate(h, responseTime)))
	responseDelay := max(0, responseTime.Sub(requestTime))
	correctedAgeValue := deltaDuration(ageValue(h)) + responseDelay
	correctedInitialAge := max(apparentAge, correctedAgeValue)
	residentTime := max(0, now.Sub(responseTime))
	return correctedInitialAge + residentTime
}

// ageValue returns the Age field's value in seconds: RFC 9111 §5.1, the
// first member of a list-based value, and 0 when that is invalid.
func ageValue(h http.Header) int64 {
	a := h["Age"]
	if len(a) == 0 {
		return 0
	}
	v := a[0]
	for i := 0; i < len(v); i++ {
		if v[i] == ',' {
			v = v[:i]
			break
		}
	}
	n, ok := parseDeltaSeconds(httpsyntax.TrimOWS(v))
	if !ok {
		return 0
	}
	return n
}
