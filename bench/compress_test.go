package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"palisade/internal/compress"
	"palisade/internal/config"
)

// BenchmarkCompress measures the compress middleware on one core: a handler
// writes a 64 KiB JSON array in 32 KiB pieces, as the proxy copies a backend
// body, and the middleware encodes it into a writer that only counts bytes.
// MB/s is uncompressed bytes per second, resp/s the responses per second
// (one core), ratio the uncompressed size over the encoded size.
//
// Two bodies: "api" is a paginated list of user records whose fields repeat
// much as in a typical API (zlib level 1 compresses it 9.2×, level 6 12.3×,
// close to the 10.7× and 13.3× nginx 1.22 measured on its own 64 KiB JSON),
// and "varied" adds random identifiers, timestamps and amounts (zlib 4.2× and
// 5.1×). Run with -cpu 1:
//
//	go test ./bench/ -run '^$' -bench 'BenchmarkCompress$' -cpu 1 -count 6
func BenchmarkCompress(b *testing.B) {
	bodies := []struct {
		name string
		body []byte
	}{
		{"api", apiJSON(64<<10, false)},
		{"varied", apiJSON(64<<10, true)},
	}
	for _, body := range bodies {
		for _, tc := range []struct {
			encoding string
			level    int // 0: the default
		}{
			{"identity", 0},
			{"zstd", 0}, {"zstd", 1}, {"zstd", 6},
			{"br", 0}, {"br", 1}, {"br", 2}, {"br", 3}, {"br", 5},
			{"gzip", 0}, {"gzip", 1}, {"gzip", 6}, {"gzip", 9},
		} {
			name := fmt.Sprintf("%s/%s-%d", body.name, tc.encoding, tc.level)
			if tc.level == 0 {
				name = fmt.Sprintf("%s/%s-default", body.name, tc.encoding)
			}
			b.Run(name, func(b *testing.B) {
				benchmarkCompress(b, body.body, tc.encoding, tc.level)
			})
		}
	}
}

func benchmarkCompress(b *testing.B, body []byte, encoding string, level int) {
	cfg := config.DefaultCompress()
	if level != 0 {
		cfg.Levels = map[string]int{encoding: level}
	}
	mw, err := compress.New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Header()["Content-Length"] = []string{length}
		for p := body; len(p) > 0; {
			n := min(len(p), 32<<10)
			w.Write(p[:n])
			p = p[n:]
		}
	}))
	req := httptest.NewRequest("GET", "/users?page=1", nil)
	req.Header.Set("Accept-Encoding", encoding)
	w := &countingWriter{header: http.Header{}}

	// One response before timing, so the encoder's lazily allocated
	// buffers are not charged to the first measured iterations.
	h.ServeHTTP(w, req)

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		clear(w.header)
		w.n = 0
		h.ServeHTTP(w, req)
	}
	if got := w.header.Get("Content-Encoding"); got != strings.TrimPrefix(encoding, "identity") {
		b.Fatalf("Content-Encoding = %q, want %q", got, encoding)
	}
	b.ReportMetric(float64(len(body))/float64(w.n), "ratio")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resp/s")
}

// countingWriter is a ResponseWriter that keeps nothing but a byte count.
type countingWriter struct {
	header http.Header
	n      int
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Flush()              {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

type apiAddress struct {
	Street  string `json:"street"`
	City    string `json:"city"`
	State   string `json:"state"`
	Zip     string `json:"zip"`
	Country string `json:"country"`
}

type apiStats struct {
	Logins    int    `json:"logins"`
	LastLogin string `json:"last_login"`
	Plan      string `json:"plan"`
}

type apiUser struct {
	ID        int        `json:"id"`
	UUID      string     `json:"uuid"`
	Name      string     `json:"name"`
	Email     string     `json:"email"`
	Active    bool       `json:"active"`
	Role      string     `json:"role"`
	CreatedAt string     `json:"created_at"`
	Balance   float64    `json:"balance"`
	Address   apiAddress `json:"address"`
	Tags      []string   `json:"tags"`
	Stats     apiStats   `json:"stats"`
}

// apiJSON returns a JSON array of user records of at most size bytes, the
// same on every call. varied draws identifiers, timestamps and amounts at
// random instead of from small sets.
func apiJSON(size int, varied bool) []byte {
	first := []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth"}
	last := []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez"}
	cities := []struct{ city, state, zip string }{
		{"Springfield", "IL", "62704"}, {"Portland", "OR", "97201"}, {"Austin", "TX", "73301"},
		{"Denver", "CO", "80202"}, {"Madison", "WI", "53703"},
	}
	streets := []string{"Maple Street", "Oak Avenue", "Pine Road", "Cedar Lane", "Main Street"}
	roles := []string{"admin", "editor", "viewer", "viewer", "viewer", "viewer"}
	tags := []string{"premium", "beta", "newsletter", "verified"}
	plans := []string{"free", "free", "pro", "team"}

	r := rand.New(rand.NewPCG(1, 2))
	out := []byte{'['}
	for id := 1; ; id++ {
		f, l := first[r.IntN(len(first))], last[r.IntN(len(last))]
		c := cities[r.IntN(len(cities))]
		u := apiUser{
			ID:        100000 + id,
			UUID:      fmt.Sprintf("usr_%06d", 100000+id),
			Name:      f + " " + l,
			Email:     strings.ToLower(f + "." + l + "@example.com"),
			Active:    r.IntN(5) != 0,
			Role:      roles[r.IntN(len(roles))],
			CreatedAt: fmt.Sprintf("2024-%02d-%02dT00:00:00Z", 1+id/28%12, 1+id%28),
			Balance:   float64(r.IntN(4) * 250),
			Address: apiAddress{
				Street: fmt.Sprintf("%d %s", 1+r.IntN(4)*100, streets[r.IntN(len(streets))]),
				City:   c.city, State: c.state, Zip: c.zip, Country: "US",
			},
			Tags: []string{},
			Stats: apiStats{
				Logins:    r.IntN(10) * 10,
				LastLogin: fmt.Sprintf("2025-06-%02dT12:00:00Z", 1+r.IntN(4)*7),
				Plan:      plans[r.IntN(len(plans))],
			},
		}
		for i := r.IntN(3); i > 0; i-- {
			u.Tags = append(u.Tags, tags[r.IntN(len(tags))])
		}
		if varied {
			u.UUID = fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff,
				r.Uint32()&0xfff, 0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
			u.Email = fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(f), strings.ToLower(l), r.IntN(100))
			u.CreatedAt = fmt.Sprintf("20%02d-%02d-%02dT%02d:%02d:%02dZ", 18+r.IntN(7), 1+r.IntN(12), 1+r.IntN(28),
				r.IntN(24), r.IntN(60), r.IntN(60))
			u.Balance = float64(r.IntN(1000000)) / 100
			u.Address.Street = fmt.Sprintf("%d %s", 1+r.IntN(9999), streets[r.IntN(len(streets))])
			u.Stats.Logins = r.IntN(5000)
			u.Stats.LastLogin = fmt.Sprintf("2025-%02d-%02dT%02d:%02d:%02dZ", 1+r.IntN(12), 1+r.IntN(28),
				r.IntN(24), r.IntN(60), r.IntN(60))
		}
		rec, err := json.Marshal(u)
		if err != nil {
			panic(err)
		}
		if len(out)+len(rec)+2 > size {
			break
		}
		if id > 1 {
			out = append(out, ',')
		}
		out = append(out, rec...)
	}
	return append(out, ']')
}
