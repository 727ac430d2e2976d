// Package testenv holds test helpers shared by every package: the goroutine
// leak check run from each package's TestMain, loopback backends, and
// starters for the real servers tests use. It is imported only by tests.
package testenv
