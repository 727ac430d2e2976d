package testenv

import "testing"

func TestMain(m *testing.M) { Main(m) }

func TestNoLeak(t *testing.T) {
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
}
