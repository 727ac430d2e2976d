// Package obs owns what Palisade tells operators about traffic: the access
// log (one JSON line per request), and later metrics and tracing.
//
// The access log is on the hot path, so a line is appended into a buffer by
// hand (no reflection, no maps, no slog attributes). By default lines
// collect in a 64 KiB buffer written out when full or every second (nginx's
// access_log buffer= flush=), which saves a write system call per request;
// unbuffered, each line is one write under a mutex.
package obs
