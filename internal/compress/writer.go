package compress

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"syscall"

	"palisade/internal/middleware"
)

// responseWriter is what the next handler writes to. It decides at
// WriteHeader (or the first Write or Flush) whether to compress, and from
// then on sends the body through the encoder or straight through. It is used
// by one request's goroutine at a time, as http.ResponseWriter is, and is
// pooled: nothing may keep it after the handler returns.
type responseWriter struct {
	http.ResponseWriter
	c      *compressor
	req    *http.Request
	coding coding // negotiated; identity when the client takes no coding
	head   bool
	inm    string // the client's If-None-Match when it had weak tags

	wroteHeader bool
	hijacked    bool
	enc         encoder // non-nil while compressing
}

var (
	_ http.Flusher  = (*responseWriter)(nil)
	_ http.Hijacker = (*responseWriter)(nil)

	_ middleware.Splicer = (*responseWriter)(nil)
)

// WriteHeader decides whether to compress and sends the response head.
// Informational (1xx) heads other than 101 pass through untouched, and later
// calls are ignored, as net/http ignores them.
func (w *responseWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.start(status)
}

// start makes the one decision of the response and writes its head.
func (w *responseWriter) start(status int) {
	w.wroteHeader = true
	h := w.ResponseWriter.Header()
	switch {
	case status == http.StatusNotModified:
		// The client revalidated the weak validator we gave it: answer in
		// the same form, so it keeps matching its stored (encoded)
		// response, and vary as that response did (RFC 9110 §15.4.5).
		if et := h["Etag"]; w.inm != "" && len(et) == 1 && clientHasWeak(w.inm, et[0]) {
			weakenETag(h)
			addVary(h)
		}
	case w.c.eligible(h, status):
		// Vary whether or not this response is compressed: another
		// request for it, with another Accept-Encoding, may get another
		// coding, and shared caches must key on it.
		addVary(h)
		if w.coding == identity || w.head || w.c.tooShort(h) {
			break
		}
		h["Content-Encoding"] = []string{w.coding.String()}
		delete(h, "Content-Length")
		// Ranges of the encoded stream are not offered (nginx does the
		// same); a Range request gets the whole compressed 200.
		delete(h, "Accept-Ranges")
		weakenETag(h)
		w.enc = w.c.pools[w.coding].get(w.ResponseWriter)
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write sends p through the encoder when compressing. Like
// http.ResponseWriter, it starts a 200 response if none was started.
func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.start(http.StatusOK)
	}
	if w.enc != nil {
		return w.enc.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// FlushError writes everything written so far to the client: the encoder
// ends its current block (gzip sync flush, zstd block, brotli flush), then
// the underlying writer flushes. A decoder on the client then has every byte
// written before the call, so streams such as server-sent events stay
// incremental. http.ResponseController calls it.
func (w *responseWriter) FlushError() error {
	if !w.wroteHeader {
		w.start(http.StatusOK)
	}
	if w.enc != nil {
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush is FlushError for http.Flusher, which cannot report errors.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// Hijack hands the connection to the caller (protocol upgrades). Nothing is
// compressed afterwards.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
		w.wroteHeader = true
	}
	return conn, brw, err
}

// Unwrap returns the wrapped writer, for http.ResponseController. Writing to
// it directly bypasses compression.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish ends the response after the handler returned (completed) or
// panicked, and returns the encoder to its pool. A panicking handler's
// stream is abandoned rather than closed: the server aborts the connection,
// and a well-formed end would only make a truncated body look complete.
func (w *responseWriter) finish(completed bool) {
	if w.enc == nil {
		return
	}
	if completed && !w.hijacked {
		if err := w.enc.Close(); err != nil {
			w.c.log.LogAttrs(w.req.Context(), slog.LevelDebug, "compress: finishing the stream failed",
				slog.String("request_id", middleware.StateFrom(w.req.Context()).ID),
				slog.String("encoding", w.coding.String()),
				slog.Any("error", err))
		}
	}
	w.c.pools[w.coding].put(w.enc)
	w.enc = nil
}

// Splice passes the body straight to the client when this response is not
// compressed and the wrapped writer can splice; a compressed body must go
// through the encoder.
func (w *responseWriter) Splice(src syscall.RawConn, n int64) (int64, bool, error) {
	if !w.wroteHeader {
		w.start(http.StatusOK)
	}
	s, ok := w.ResponseWriter.(middleware.Splicer)
	if w.enc != nil || w.hijacked || !ok {
		return 0, false, nil
	}
	return s.Splice(src, n)
}
