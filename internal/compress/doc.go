// Package compress owns response compression: it chooses a content coding
// (zstd, br or gzip) from the request's Accept-Encoding, decides whether a
// response may be compressed, rewrites the header fields that change with the
// coding (Content-Encoding, Content-Length, ETag, Vary, Accept-Ranges), and
// streams the body through an encoder taken from a pool.
//
// The middleware sits innermost in a route's chain, between the cache and
// the proxy, so the cache stores the encoded variant and a hit costs no
// compression. It therefore never assumes it writes Vary, ETag or
// Content-Length last, and it decides everything when the handler writes the
// response head: header fields set after WriteHeader are not looked at, as
// net/http would not send them either.
//
// Nothing is buffered whole. A response is compressed as it is written,
// Flush pushes everything written so far through the encoder to the client
// (server-sent events stay incremental), and 1xx responses, Hijack and
// Unwrap pass through untouched. Encoders are pooled per coding and level,
// reset on reuse, and returned at the end of the request even when the
// handler panics; the per-request cost is a few small header allocations.
package compress
