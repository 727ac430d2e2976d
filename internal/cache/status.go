package cache

// heuristicallyCacheable reports whether a status is heuristically
// cacheable (RFC 9110 §15.1; RFC 9111 §4.2.2): a cache may store a response
// with it and give it a heuristic lifetime without explicit freshness.
func heuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus reports whether this cache understands and conforms to
// the requirements of a status code (RFC 9111 §3, §5.2.2.3): the final
// statuses of RFC 9110 §15 and the ones it is usually met beside (429,
// 431, 451 and 511), except 206 (this cache stores only complete
// responses, §3.3) and 304 (which updates a stored response, §4.3.4, and
// is never stored itself).
func understoodStatus(status int) bool {
	switch {
	case status == 206 || status == 304:
		return false
	case 200 <= status && status <= 205,
		300 <= status && status <= 308 && status != 306,
		400 <= status && status <= 417,
		421 <= status && status <= 422, status == 426,
		status == 429, status == 431, status == 451,
		500 <= status && status <= 505, status == 511:
		return true
	}
	return false
}
