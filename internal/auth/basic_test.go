package auth

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/bcrypt"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
)

func hash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func basicHeader(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

func basicConfig(t testing.TB) config.AuthBasic {
	return config.AuthBasic{
		Realm:     "staff",
		Users:     map[string]string{"alice": hash(t, "wonderland"), "bob": hash(t, "builder")},
		CacheTTL:  config.Duration(time.Minute),
		CacheSize: 64,
	}
}

func TestBasic(t *testing.T) {
	srv, backend := front(t, config.Auth{Basic: ptr(basicConfig(t))}, nil)
	const challenge = `Basic realm="staff", charset="UTF-8"`
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"good user", basicHeader("alice", "wonderland"), 200},
		{"good user again, from the cache", basicHeader("alice", "wonderland"), 200},
		{"scheme in other case", "bAsIc " + base64.StdEncoding.EncodeToString([]byte("bob:builder")), 200},
		{"wrong password", basicHeader("alice", "looking-glass"), 401},
		{"unknown user", basicHeader("mallory", "wonderland"), 401},
		{"other user's password", basicHeader("bob", "wonderland"), 401},
		{"no credentials", "", 401},
		{"bearer scheme", "Bearer abc.def.ghi", 401},
		{"bad base64", "Basic !!!", 401},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice")), 401},
		{"empty user", basicHeader("", "wonderland"), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			_, before := backend.last()
			status, _, hdr := do(t, srv.Client(), "GET", srv.URL+"/x", h)
			if status != tc.want {
				t.Fatalf("GET with Authorization %q = %d, want %d", tc.auth, status, tc.want)
			}
			got, after := backend.last()
			if tc.want == 401 {
				if hdr.Get("WWW-Authenticate") != challenge {
					t.Errorf("WWW-Authenticate = %q, want %q", hdr.Get("WWW-Authenticate"), challenge)
				}
				if hdr.Get("X-Request-Id") != "req-1" {
					t.Errorf("X-Request-Id = %q, want req-1", hdr.Get("X-Request-Id"))
				}
				if after != before {
					t.Errorf("a refused request reached the backend")
				}
				return
			}
			if got.Get("Authorization") != "" {
				t.Errorf("backend got Authorization %q, want it stripped", got.Get("Authorization"))
			}
		})
	}
}

func TestBasicKeepCredentials(t *testing.T) {
	srv, backend := front(t, config.Auth{Basic: ptr(basicConfig(t)), KeepCredentials: true}, nil)
	auth := basicHeader("alice", "wonderland")
	if status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": auth}); status != 200 {
		t.Fatalf("status %d, want 200", status)
	}
	if got, _ := backend.last(); got.Get("Authorization") != auth {
		t.Errorf("backend got Authorization %q, want %q kept", got.Get("Authorization"), auth)
	}
}

func TestBasicHtpasswd(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# staff\n\ncarol:"+hash(t, "secret")+"\r\n")
	b, err := newBasic(config.AuthBasic{Realm: "r", HtpasswdFile: good}, false)
	if err != nil {
		t.Fatalf("newBasic(%s): %v", good, err)
	}
	if !b.verify(basicHeader("carol", "secret")) || b.verify(basicHeader("carol", "wrong")) {
		t.Errorf("htpasswd user carol: verify did not accept exactly her password")
	}
	for _, tc := range []struct{ name, content, want string }{
		{"apr1", "carol:" + hash(t, "x") + "\ndave:$apr1$abc$defghijklmnopqrstuvw\n", `bad:2: user "dave": the hash is an Apache MD5 (apr1) hash`},
		{"sha1", "erin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", `bad:1: user "erin": the hash is a SHA-1 hash`},
		{"plain", "# c\nfrank:password\n", `bad:2: user "frank": the hash is not a bcrypt hash`},
		{"no colon", "grace\n", "bad:1: not a user:hash line"},
		{"duplicate", "h:" + hash(t, "a") + "\nh:" + hash(t, "b") + "\n", `bad:2: user "h" is listed twice`},
		{"empty", "# nobody\n", "bad: no users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write("bad", tc.content)
			_, err := newBasic(config.AuthBasic{Realm: "r", HtpasswdFile: p}, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newBasic(%q) = %v, want an error containing %q", tc.content, err, tc.want)
			}
		})
	}
}

// TestBasicUnknownUserCostsBcrypt checks that an unknown user is compared
// against a hash of the users' cost: its answer takes as long as a known
// user's wrong password, not the time of a map miss.
func TestBasicUnknownUserCostsBcrypt(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), 10)
	b, err := newBasic(config.AuthBasic{Realm: "r", Users: map[string]string{"alice": string(h)}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost(b.dummy); c != 10 {
		t.Errorf("dummy hash cost = %d, want the users' 10", c)
	}
	start := time.Now()
	b.verify(basicHeader("nobody", "pw"))
	if d := time.Since(start); d < time.Millisecond {
		t.Errorf("unknown user answered in %v: no bcrypt comparison ran", d)
	}
}

func TestCredentialCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCredentialCache(32, time.Minute)
		k := c.key([]byte("alice:wonderland"))
		if c.hit(k) {
			t.Fatal("empty cache hit")
		}
		c.add(k)
		if !c.hit(k) {
			t.Fatal("added pair missed")
		}
		if c.hit(c.key([]byte("alice:wonderlanD"))) {
			t.Fatal("another password hit")
		}
		time.Sleep(time.Minute + time.Second)
		if c.hit(k) {
			t.Errorf("pair hit after its TTL")
		}
		for i := range 1000 {
			c.add(c.key([]byte("user" + string(rune('a'+i%26)) + ":" + time.Duration(i).String())))
		}
		if n := c.lenForTest(); n > 32 {
			t.Errorf("cache holds %d pairs, want at most 32", n)
		}
	})
}

func TestDecodeBasic(t *testing.T) {
	var buf [maxBasicCredentials]byte
	long := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+strings.Repeat("p", maxBasicCredentials)))
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{basicHeader("alice", "pw"), "alice:pw", true},
		{basicHeader("alice", "p:w"), "alice:p:w", true},
		{basicHeader("alice", ""), "alice:", true},
		{"Basic   " + base64.StdEncoding.EncodeToString([]byte("a:b")) + " ", "a:b", true},
		{basicHeader("al\x01ce", "pw"), "", false},
		{"Basic", "", false},
		{"Basic ", "", false},
		{"Basic YWxpY2U6cHc", "", false}, // unpadded
		{long, "", false},
		{"Digest abc", "", false},
	} {
		got, ok := decodeBasic(tc.in, buf[:])
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("decodeBasic(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzBasicHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		var buf [maxBasicCredentials]byte
		creds, ok := decodeBasic(h, buf[:])
		if !ok {
			return
		}
		i := strings.IndexByte(string(creds), ':')
		if i <= 0 {
			t.Fatalf("decodeBasic(%q) = %q: accepted without a user and colon", h, creds)
		}
		if !httpsyntax.HasPrefixFold(h, "basic ") {
			t.Fatalf("decodeBasic(%q) accepted another scheme", h)
		}
		enc := base64.StdEncoding.EncodeToString(creds)
		if strings.Trim(h[len("Basic "):], " ") != enc {
			t.Fatalf("decodeBasic(%q) = %q, which encodes as %q", h, creds, enc)
		}
	})
}

func BenchmarkBasicCached(b *testing.B) {
	cfg := basicConfig(b)
	mw, err := New(config.Auth{Basic: &cfg}, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	auth := basicHeader("alice", "wonderland")
	w := discardWriter{}
	v := []string{auth}
	b.ReportAllocs()
	for b.Loop() {
		req.Header["Authorization"] = v
		h.ServeHTTP(w, req)
	}
	if req.Header.Get("Authorization") != "" {
		b.Fatal("credentials not stripped")
	}
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (discardWriter) WriteHeader(int)             {}

func ptr[T any](v T) *T { return &v }
