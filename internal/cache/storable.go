package cache

import (
	"net/http"
	"slices"
	"time"

	"palisade/internal/middleware"
)

// storeOptions are a route's choices that widen what RFC 9111 §3 lets the
// cache store.
type storeOptions struct {
	// storeSetCookie stores responses carrying Set-Cookie; otherwise they
	// are passed through unstored.
	storeSetCookie bool
	// defaultTTL gives a heuristically cacheable response without explicit
	// freshness or a Last-Modified a lifetime (a cache extension in RFC
	// 9111 §3's terms); 0 stores none.
	defaultTTL time.Duration
}

// storable reports whether this shared cache may store the response with
// status, header respHeader and directives respCC to req, whose directives
// are reqCC (noDirectives() when the route ignores client directives), as
// RFC 9111 §3 says. When it may not, reason is a short token for
// Cache-Status's fwd and detail: "method", "status", "no-store",
// "private", "authorization", "set-cookie", "vary" or "no-lifetime".
//
// Choices where the RFC leaves one:
//   - Only GET responses are stored. HEAD is answered from a stored GET
//     response (RFC 9110 §9.3.2), so a HEAD response adds nothing that the
//     GET of the same URI would not, and storing it would put a bodiless
//     entry where a GET expects a body.
//   - 206 is never stored (the store keeps complete responses, §3.3 and
//     §3.4, and ranges are cut from them), nor 304 (it updates a stored
//     response, §4.3.4) nor any non-final status.
//   - must-understand (§5.2.2.3) stores only a status understoodStatus
//     knows, and then ignores no-store.
//   - Set-Cookie is refused unless opts.storeSetCookie, or unless
//     private="Set-Cookie" strips it before storage.
//   - Vary: * is refused: it can never be selected (§4.1).
//   - Beyond explicit freshness, a heuristically cacheable status or
//     public (§3, §4.2.2) is stored only when it can be reused at all:
//     it has a Last-Modified (the heuristic), an ETag (revalidation), a
//     stale-if-error window, or the route gives a default TTL.
func storable(req *http.Request, reqCC directives, status int, respHeader http.Header, respCC directives, opts storeOptions) (ok bool, reason string) {
	// RFC 9111 §3: the request method is understood and cacheable.
	if req.Method != http.MethodGet {
		return false, "method"
	}
	// RFC 9111 §3: the status is final, and understood when 206, 304 or
	// must-understand make that a condition.
	if status < 200 || status == http.StatusPartialContent || status == http.StatusNotModified || status > 999 {
		return false, "status"
	}
	understood := respCC.mustUnderstand && understoodStatus(status)
	if respCC.mustUnderstand && !understood {
		return false, "status"
	}
	// RFC 9111 §3, §5.2.1.5 and §5.2.2.5: no-store in the request or the
	// response; §5.2.2.3: a cache that understands must-understand and
	// the status ignores the response's no-store.
	if reqCC.noStore || respCC.noStore && !understood {
		return false, "no-store"
	}
	// RFC 9111 §5.2.2.7: a shared cache stores no private response.
	if respCC.private {
		return false, "private"
	}
	// RFC 9111 §3.5: a response to a request with Authorization only with
	// must-revalidate, public or s-maxage. A request the auth middleware
	// let through counts as one, whether or not it left the credentials
	// on: the response may be meant for that user alone.
	if !respCC.mustRevalidate && !respCC.public && respCC.sMaxAge < 0 && authorized(req) {
		return false, "authorization"
	}
	if _, cookie := respHeader["Set-Cookie"]; cookie && !opts.storeSetCookie && !slices.Contains(respCC.privateFields, "Set-Cookie") {
		return false, "set-cookie"
	}
	if _, star := varyNames(respHeader); star {
		return false, "vary"
	}
	// RFC 9111 §3: explicit freshness, or a status or directive that
	// allows storing without it.
	if hasExplicitFreshness(respCC, respHeader) {
		return true, ""
	}
	if !respCC.public && !heuristicallyCacheable(status) {
		return false, "no-lifetime"
	}
	_, lastModified := respHeader["Last-Modified"]
	_, etag := respHeader["Etag"]
	if lastModified || etag || respCC.staleIfError > 0 || opts.defaultTTL > 0 && heuristicallyCacheable(status) {
		return true, ""
	}
	return false, "no-lifetime"
}

// hopByHop are the fields RFC 9110 §7.6.1 has a proxy remove before
// forwarding, which RFC 9111 §3.1 lets a cache remove before storing, and
// the proxy-specific ones it must not store (§3.1).
var hopByHop = [...]string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Transfer-Encoding", "Upgrade", "Trailer",
	"Proxy-Authenticate", "Proxy-Authentication-Info", "Proxy-Authorization",
}

// storedHeader returns the copy of a storable response's header that the
// cache keeps (RFC 9111 §3.1): without the hop-by-hop fields and those
// Connection lists, and without the fields a qualified private lists
// (§5.2.2.7). The fields of a qualified no-cache are kept: the hit path must
// leave them out of a response that was not just validated (§5.2.2.4).
func storedHeader(h http.Header, cc directives) http.Header {
	out := h.Clone()
	for _, line := range h["Connection"] {
		for line != "" {
			var m ccMember
			m, line = nextCCMember(line)
			if m.name != "" {
				out.Del(m.name)
			}
		}
	}
	for _, name := range hopByHop {
		delete(out, name)
	}
	for _, name := range cc.privateFields {
		delete(out, name)
	}
	return out
}

// authorized reports whether req carries credentials, or carried them and
// the auth middleware, which runs before the cache, accepted and removed
// them.
func authorized(req *http.Request) bool {
	if _, ok := req.Header["Authorization"]; ok {
		return true
	}
	return middleware.StateFrom(req.Context()).Authenticated
}
