//go:build !linux

package proxy

import "errors"

// closeWatcher is Linux's (see h1watch_linux.go). Elsewhere there is none:
// the pool probes a connection before reuse instead (see peerClosed).
type closeWatcher struct{}

func newCloseWatcher() (*closeWatcher, error) {
	return nil, errors.New("no backend close watcher on this system")
}

func (w *closeWatcher) register(c *h1Conn) bool { return false }
func (w *closeWatcher) forget(c *h1Conn)        {}
func (w *closeWatcher) close()                  {}
func (w *closeWatcher) run(failed func(error))  {}
