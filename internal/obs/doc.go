// Package obs owns what Palisade tells operators about traffic: the access
// log (one JSON line per request), and later metrics and tracing.
//
// The access log is on the hot path, so a line is appended into a pooled
// buffer by hand (no reflection, no maps, no slog attributes) and written to
// the output with one write call under a mutex, as nginx does with an
// unbuffered access_log.
package obs
