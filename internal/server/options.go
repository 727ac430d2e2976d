package server

import (
	"time"

	"palisade/internal/config"
)

// Options are the timeouts and limits of one listener. A Server reads them
// once per request, so SetOptions applies to the next request on every
// connection. A zero timeout disables it.
type Options struct {
	// ReadHeaderTimeout bounds reading a whole request head, from its first
	// byte (from connection accept for the first request).
	ReadHeaderTimeout time.Duration
	// ReadBodyTimeout is the longest gap between two successful reads of a
	// request body.
	ReadBodyTimeout time.Duration
	// WriteTimeout is the longest a single write to the client may block.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line plus header section (and, for a
	// chunked body, its trailer section); more gets 431. Zero or less means
	// DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxHeaderCount bounds the number of header (plus trailer) field
	// lines; more gets 431. Zero or less means DefaultMaxHeaderCount.
	MaxHeaderCount int
	// MaxBodyBytes bounds a request body; 0 means no limit. A known
	// Content-Length over it gets 413 before the handler runs; a chunked
	// body crossing it makes Read return *http.MaxBytesError.
	MaxBodyBytes int64
	// Underscores says what happens to a request field (header or
	// trailer) whose name holds an underscore. The zero value drops it.
	Underscores UnderscorePolicy
}

// UnderscorePolicy is what the server does with a request field whose name
// holds an underscore. CGI, FastCGI, WSGI and Rack backends turn "-" into
// "_", so Transfer_Encoding, Content_Length or X_Forwarded_For reach them
// as the field they imitate, behind every check the proxy made on the real
// one.
type UnderscorePolicy uint8

const (
	// UnderscoresDrop removes such fields and logs them at debug level,
	// as nginx does by default (underscores_in_headers off).
	UnderscoresDrop UnderscorePolicy = iota
	// UnderscoresKeep forwards them as they are.
	UnderscoresKeep
	// UnderscoresReject answers 400.
	UnderscoresReject
)

// underscorePolicy maps the config value; validation has refused others.
func underscorePolicy(s string) UnderscorePolicy {
	switch s {
	case "keep":
		return UnderscoresKeep
	case "reject":
		return UnderscoresReject
	}
	return UnderscoresDrop
}

// Defaults for limits left at zero. They match the config defaults.
const (
	DefaultMaxHeaderBytes = 32 << 10
	DefaultMaxHeaderCount = 100
)

// OptionsFrom returns the options of listener l. l has been validated and
// its defaults applied by package config.
func OptionsFrom(l config.Listener) Options {
	return Options{
		ReadHeaderTimeout: l.Timeouts.ReadHeader.D(),
		ReadBodyTimeout:   l.Timeouts.ReadBody.D(),
		WriteTimeout:      l.Timeouts.Write.D(),
		IdleTimeout:       l.Timeouts.Idle.D(),
		MaxHeaderBytes:    int(l.Limits.MaxHeaderBytes),
		MaxHeaderCount:    l.Limits.MaxHeaderCount,
		MaxBodyBytes:      int64(l.Limits.MaxBodyBytes),
		Underscores:       underscorePolicy(l.UnderscoresInHeaders),
	}
}

// normalized returns o with the limits that cannot be disabled set to their
// defaults.
func (o Options) normalized() Options {
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxHeaderCount <= 0 {
		o.MaxHeaderCount = DefaultMaxHeaderCount
	}
	if o.MaxBodyBytes < 0 {
		o.MaxBodyBytes = 0
	}
	return o
}
