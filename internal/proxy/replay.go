package proxy

import (
	"io"
	"sync"
)

// replayBody lets a request body be sent again on a retry: it passes the
// client's body through and keeps what it read, up to a limit, so that a
// retry reads the kept bytes first and then the rest of the client's body.
// Once more than the limit has been read the body cannot be replayed. It is
// used only with the synchronous HTTP/1.1 transport, which reads the body
// within RoundTrip alone: a retry never races a read of a previous try.
type replayBody struct {
	// pool holds the kept bytes' buffers: the handler's replays, set once
	// when the exchange is made.
	pool  *sync.Pool
	src   io.Reader
	limit int
	buf   *[]byte // kept bytes, from pool
	pos   int     // next kept byte to replay
	over  bool    // more than limit was read: no replay
}

// newReplayBuffer is the New of a handler's replays pool; buffers grow as
// bodies need, up to the retry policy's body_buffer.
func newReplayBuffer() any { b := make([]byte, 0, 4<<10); return &b }

func (rb *replayBody) reset(src io.Reader, limit int) {
	rb.src, rb.limit, rb.pos, rb.over = src, limit, 0, false
}

// release returns the buffer.
func (rb *replayBody) release() {
	if rb.buf != nil {
		*rb.buf = (*rb.buf)[:0]
		rb.pool.Put(rb.buf)
		rb.buf = nil
	}
	rb.src = nil
}

func (rb *replayBody) Read(p []byte) (int, error) {
	if rb.buf != nil && rb.pos < len(*rb.buf) {
		n := copy(p, (*rb.buf)[rb.pos:])
		rb.pos += n
		return n, nil
	}
	n, err := rb.src.Read(p)
	if n > 0 && !rb.over {
		if rb.buf == nil {
			rb.buf = rb.pool.Get().(*[]byte)
		}
		if len(*rb.buf)+n > rb.limit {
			rb.over = true
		} else {
			*rb.buf = append(*rb.buf, p[:n]...)
			rb.pos = len(*rb.buf)
		}
	}
	return n, err
}

// Close does nothing: the server owns the inbound body.
func (rb *replayBody) Close() error { return nil }

// rewind makes the next Read start over; it reports false when the body
// outgrew the limit.
func (rb *replayBody) rewind() bool {
	if rb.over {
		return false
	}
	rb.pos = 0
	return true
}
