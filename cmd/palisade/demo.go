package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"palisade/examples"
	"palisade/internal/config"
)

// demoBackends are the addresses examples/demo.yaml forwards to.
var demoBackends = []string{"127.0.0.1:9001", "127.0.0.1:9002"}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [flags]", stdout, stderr)
	var lf logFlags
	lf.register(fs)
	if code, done := parseFlags(fs, args, stdout); done {
		return code
	}
	log, err := lf.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "palisade demo:", err)
		return exitUsage
	}
	data, err := examples.FS.ReadFile("demo.yaml")
	if err != nil {
		fmt.Fprintln(stderr, "palisade demo:", err)
		return exitFailed
	}
	cfg, err := config.Parse("examples/demo.yaml", data)
	if err != nil {
		printConfigError(stderr, err)
		return exitFailed
	}
	var servers []*http.Server
	defer func() {
		for _, s := range servers {
			s.Shutdown(context.Background())
		}
	}()
	for i, addr := range demoBackends {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(stderr, "palisade demo: demo backend %s: %v (hint: stop whatever uses the port)\n", addr, err)
			return exitFailed
		}
		s := &http.Server{Handler: demoBackend(fmt.Sprintf("demo-%d", i+1)), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		go s.Serve(ln)
	}
	front := cfg.Listeners[0].Address
	fmt.Fprintf(stderr, `Palisade demo: proxy on http://%[1]s in front of demo backends %[2]s and %[3]s.
Try, from another terminal:
  curl -i http://%[1]s/                       # round robin: run it twice
  curl -s --compressed -i http://%[1]s/api/items  # a JSON list, compressed (zstd, br or gzip)
  curl -N http://%[1]s/events                 # server-sent events, streamed as they happen
  curl -i -X DELETE http://%[1]s/api/items    # the api route takes GET and POST only: this goes to the default route
Access log lines (JSON) appear on stdout. Ctrl-C stops it.
`, front, demoBackends[0], demoBackends[1])
	return serve(cfg, log, stderr, nil)
}

// demoBackend answers like a small API: it says who it is and what it saw.
func demoBackend(name string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		for i := 1; i <= 5; i++ {
			fmt.Fprintf(w, "id: %d\ndata: {\"backend\":%q,\"tick\":%d}\n\n", i, name, i)
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
	mux.HandleFunc("/api/items", func(w http.ResponseWriter, r *http.Request) {
		type item struct {
			ID    int    `json:"id"`
			Name  string `json:"name"`
			Email string `json:"email"`
		}
		items := make([]item, 50)
		for i := range items {
			items[i] = item{ID: i + 1, Name: fmt.Sprintf("user %d", i+1), Email: fmt.Sprintf("user%d@example.com", i+1)}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"backend": name, "items": items})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"backend":           name,
			"method":            r.Method,
			"path":              r.URL.Path,
			"host":              r.Host,
			"x_forwarded_for":   r.Header.Get("X-Forwarded-For"),
			"x_forwarded_proto": r.Header.Get("X-Forwarded-Proto"),
			"x_request_id":      r.Header.Get("X-Request-Id"),
			"via":               r.Header.Get("Via"),
		})
	})
	return mux
}
