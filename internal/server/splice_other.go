//go:build !linux

package server

import (
	"syscall"

	"palisade/internal/middleware"
)

var _ middleware.Splicer = (*response)(nil)

// Splice declines: there is no splice(2) here, the caller copies.
func (w *response) Splice(syscall.RawConn, int64) (int64, bool, error) { return 0, false, nil }
