package compress

import (
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoder is the part of a streaming compressor the response writer uses.
// gzip.Writer, zstd.Encoder and brotli.Writer all have it.
type encoder interface {
	io.Writer
	// Flush writes everything written so far so that a decoder can
	// produce it, without ending the stream.
	Flush() error
	// Close ends the stream. It does not close the underlying writer.
	Close() error
	// Reset discards all state and starts a new stream to w.
	Reset(w io.Writer)
}

var (
	_ encoder = (*gzip.Writer)(nil)
	_ encoder = (*zstd.Encoder)(nil)
	_ encoder = (*brotli.Writer)(nil)
)

// Window sizes bound the memory a pooled encoder keeps: with the libraries'
// defaults (8 MiB for zstd, 4 MiB for br) one idle zstd encoder holds 18 MiB
// and one br encoder 12 MiB, while most responses are far smaller than the
// window. 256 KiB keeps each near 2-3 MiB and loses nothing on responses
// below it.
const (
	zstdWindow  = 256 << 10
	brotliLGWin = 18
)

// encoderPool hands out reset encoders of one coding and level. A sync.Pool
// keeps them per P and lets the garbage collector drop the ones an idle
// route no longer needs.
type encoderPool struct {
	pool sync.Pool
}

// newEncoderPool returns a pool for c at level. It builds one encoder at
// once, so a level the library rejects fails here rather than per request.
func newEncoderPool(c coding, level int) (*encoderPool, error) {
	e, err := newEncoder(c, level)
	if err != nil {
		return nil, err
	}
	p := &encoderPool{}
	p.pool.New = func() any {
		// The level was accepted above, so this cannot fail.
		e, _ := newEncoder(c, level)
		return e
	}
	p.pool.Put(e)
	return p, nil
}

// get returns an encoder writing a new stream to w.
func (p *encoderPool) get(w io.Writer) encoder {
	e := p.pool.Get().(encoder)
	e.Reset(w)
	return e
}

// put returns e to the pool. e must not be used afterwards.
func (p *encoderPool) put(e encoder) {
	// Drop the reference to the response writer, which belongs to a
	// finished request.
	e.Reset(nil)
	p.pool.Put(e)
}

// newEncoder builds an encoder for c at level, writing nowhere yet.
func newEncoder(c coding, level int) (encoder, error) {
	switch c {
	case codingGzip:
		w, err := gzip.NewWriterLevel(nil, level)
		if err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", level, err)
		}
		return w, nil
	case codingZstd:
		if level < 1 || level > 22 {
			return nil, fmt.Errorf("zstd level %d: out of range 1 to 22", level)
		}
		// Concurrency 1 encodes on the caller's goroutine: no goroutines
		// per encoder, and Flush and Close finish before they return. RFC
		// 9659 §3 forbids windows above 8 MiB for the zstd content coding.
		// No content checksum (optional, RFC 8878 §3.1.1.1.2): TCP and TLS
		// already guard the bytes, and its xxhash was 3% of the proxy's
		// CPU on 64 KiB JSON responses.
		w, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdWindow),
			zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderCRC(false))
		if err != nil {
			return nil, fmt.Errorf("zstd level %d: %w", level, err)
		}
		return w, nil
	case codingBr:
		if level < brotli.BestSpeed || level > brotli.BestCompression {
			return nil, fmt.Errorf("br level %d: out of range %d to %d", level, brotli.BestSpeed, brotli.BestCompression)
		}
		// The matchfinder-based brotli.NewWriterV2 is faster at equal ratio
		// but cannot flush a partial stream, which server-sent events need.
		return brotli.NewWriterOptions(nil, brotli.WriterOptions{Quality: level, LGWin: brotliLGWin}), nil
	}
	return nil, fmt.Errorf("no encoder for %v", c)
}
