package gateway

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"palisade/internal/testenv"
)

// TestClientGoneWhileBackendWaits checks that a client closing its HTTP/1.1
// connection while the proxy waits on a slow backend ends the backend
// exchange within about a second (the proxy closes the backend connection,
// which the backend sees as its request context ending) and is logged as
// 499; that a slow backend answering a client that stayed gets through,
// and the connection serves another request; and that a server-sent event
// stream whose client leaves ends although the backend sends nothing more.
func TestClientGoneWhileBackendWaits(t *testing.T) {
	backendDone := make(chan string, 4)
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-ok":
			time.Sleep(1500 * time.Millisecond)
			io.WriteString(w, "late")
			return
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: one\n\n")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
			backendDone <- r.URL.Path
		case <-time.After(20 * time.Second):
			backendDone <- r.URL.Path + " never ended"
		}
	}))
	logFile := filepath.Join(t.TempDir(), "access.log")
	h := start(t, fmt.Sprintf(`
access_log: {output: %q, buffer: 0}
listeners: [{name: web, address: "127.0.0.1:0"}]
routes: [{name: all, match: {path_prefix: /}, upstream: app}]
upstreams: [{name: app, backends: [{address: %q}]}]
`, logFile, b.Listener.Addr()))

	dial := func() net.Conn {
		conn, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		return conn
	}
	leave := func(path string, wait func(br *bufio.Reader)) {
		t.Helper()
		leaveWhileBackendWaits(t, dial(), path, wait, backendDone)
	}
	leave("/hang", func(*bufio.Reader) { time.Sleep(300 * time.Millisecond) })
	leave("/events", func(br *bufio.Reader) {
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if strings.HasPrefix(line, "data: one") {
				return
			}
		}
	})

	// A client that waits gets the slow answer, and its connection, watched
	// during the wait, goes on serving.
	c := testenv.Client(t, testenv.H1)
	for range 2 {
		if code, body, _ := get(t, c, newRequest(t, "GET", h.url("/slow-ok"), nil)); code != 200 || body != "late" {
			t.Errorf("/slow-ok = %d %q, want 200 \"late\"", code, body)
		}
	}

	time.Sleep(100 * time.Millisecond)
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"path":"/hang","proto":"HTTP/1.1","status":499`) {
		t.Errorf("access log has no 499 for /hang:\n%s", data)
	}
}

// leaveWhileBackendWaits sends a request for path on conn, runs wait, closes
// conn and checks that the backend exchange ends soon after (the backend
// reports the path on done when its request context ends).
func leaveWhileBackendWaits(t *testing.T, conn net.Conn, path string, wait func(br *bufio.Reader), done <-chan string) {
	t.Helper()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	wait(bufio.NewReader(conn))
	left := time.Now()
	conn.Close()
	select {
	case got := <-done:
		if got != path {
			t.Errorf("backend: %s", got)
		}
		if d := time.Since(left); d > 5*time.Second {
			t.Errorf("%s: the backend exchange ended %v after the client left, want within about a second", path, d)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: the backend exchange did not end after the client left", path)
	}
}

// TestClientGoneOverTLS checks hang-up detection on HTTP/1.1 over TLS: the
// socket under tls.Conn is watched like a plain one.
func TestClientGoneOverTLS(t *testing.T) {
	backendDone := make(chan string, 1)
	b := testenv.Backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			backendDone <- r.URL.Path
		case <-time.After(20 * time.Second):
			backendDone <- r.URL.Path + " never ended"
		}
	}))
	dir := t.TempDir()
	ca := testenv.NewCA(t)
	ca.WriteLeaf(t, filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key"), "127.0.0.1")
	h := startIn(t, dir, fmt.Sprintf(tlsConfig, "", b.Listener.Addr()))
	conn, err := tls.Dial("tcp", h.addr, &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	leaveWhileBackendWaits(t, conn, "/hang", func(*bufio.Reader) { time.Sleep(300 * time.Millisecond) }, backendDone)
}
