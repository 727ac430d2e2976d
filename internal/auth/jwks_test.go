package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"palisade/internal/config"
	"palisade/internal/testenv"
)

func jwkOf(t testing.TB, kid string, pub any) map[string]string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"kty": "EC", "kid": kid, "crv": k.Curve.Params().Name, "x": enc(b[1 : 1+size]), "y": enc(b[1+size:])}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": enc(k)}
	}
	t.Fatalf("jwkOf(%T)", pub)
	return nil
}

// keyServer is a JWKS endpoint whose keys a test changes.
type keyServer struct {
	mu           sync.Mutex
	keys         []map[string]string
	cacheControl string
	fetches      int
	down         bool
}

func (s *keyServer) set(keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *keyServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func (s *keyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.down {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	if s.cacheControl != "" {
		w.Header().Set("Cache-Control", s.cacheControl)
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
}

func jwksConfig(url string) config.AuthJWT {
	return config.AuthJWT{
		JWKS: &config.AuthJWKS{
			URL: url, Timeout: config.Duration(2 * time.Second),
			CacheDefault: config.Duration(10 * time.Minute), CacheMin: config.Duration(time.Minute), CacheMax: config.Duration(24 * time.Hour),
			RefreshInterval: config.Duration(time.Hour),
		},
		ClockSkew: config.Duration(30 * time.Second), RequireExp: true,
		Claims: map[string]string{"sub": "X-User"},
	}
}

func TestJWKSRotation(t *testing.T) {
	k := testKeys()
	ec2, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ks := &keyServer{}
	ks.set(jwkOf(t, "k1", &k.rsa.PublicKey), jwkOf(t, "k-ed", k.ed.Public()))
	keySrv := testenv.Backend(t, ks)
	cfg := jwksConfig(keySrv.URL + "/jwks.json")
	log, logs := newLog()
	srv, _ := front(t, config.Auth{JWT: &cfg}, log)
	get := func(tok string) int {
		status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": "Bearer " + tok})
		return status
	}
	old := sign(t, jwt.SigningMethodRS256, k.rsa, "k1", goodClaims())
	if s := get(old); s != 200 {
		t.Fatalf("token of the published key k1 = %d, want 200", s)
	}
	if s := get(sign(t, jwt.SigningMethodEdDSA, k.ed, "k-ed", goodClaims())); s != 200 {
		t.Fatalf("token of the published Ed25519 key = %d, want 200", s)
	}
	if n := ks.count(); n != 1 {
		t.Errorf("key set fetched %d times for two requests, want once", n)
	}
	// The identity provider rotates: k1 is withdrawn and k2 published.
	ks.set(jwkOf(t, "k2", &ec2.PublicKey))
	if s := get(sign(t, jwt.SigningMethodES384, ec2, "k2", goodClaims())); s != 200 {
		t.Fatalf("token of the new key k2 = %d, want 200 after a refresh on the unknown kid", s)
	}
	if n := ks.count(); n != 2 {
		t.Errorf("key set fetched %d times, want 2 (one refresh for the unknown kid)", n)
	}
	if s := get(old); s != 401 {
		t.Errorf("token of the withdrawn key k1 = %d, want 401", s)
	}
	// Unknown kids within the refresh interval cause no more fetches.
	for range 5 {
		if s := get(sign(t, jwt.SigningMethodES384, ec2, "made-up", goodClaims())); s != 401 {
			t.Errorf("token with a made-up kid = %d, want 401", s)
		}
	}
	if n := ks.count(); n != 2 {
		t.Errorf("key set fetched %d times after made-up kids, want still 2 (at most one refresh per interval)", n)
	}
	if s := get(sign(t, jwt.SigningMethodHS256, []byte(testSecret), "k2", goodClaims())); s != 401 {
		t.Errorf("HS256 token naming an EC key's kid = %d, want 401", s)
	}
	if n := logs.count("JWKS fetch failed"); n != 0 {
		t.Errorf("%d fetch failures logged, want none", n)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	k := testKeys()
	ks := &keyServer{down: true}
	keySrv := testenv.Backend(t, ks)
	cfg := jwksConfig(keySrv.URL)
	cfg.JWKS.RefreshInterval = config.Duration(time.Millisecond)
	log, logs := newLog()
	srv, _ := front(t, config.Auth{JWT: &cfg}, log)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "k1", goodClaims())
	for range 3 {
		time.Sleep(2 * time.Millisecond) // past the refresh interval
		if status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": "Bearer " + tok}); status != 503 {
			t.Fatalf("token while the key set cannot be fetched = %d, want 503", status)
		}
	}
	if n := logs.count("JWKS fetch failed"); n != 1 {
		t.Errorf("fetch failure logged %d times, want once per state change", n)
	}
	ks.mu.Lock()
	ks.down = false
	ks.keys = []map[string]string{jwkOf(t, "k1", &k.rsa.PublicKey)}
	ks.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	if status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": "Bearer " + tok}); status != 200 {
		t.Fatalf("token once the key set is back = %d, want 200", status)
	}
	if n := logs.count("JWKS fetched again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
}

func TestJWKSCacheControl(t *testing.T) {
	k := testKeys()
	for _, tc := range []struct {
		cacheControl string
		want         time.Duration
	}{
		{"", 10 * time.Minute},
		{"public, max-age=3600", time.Hour},
		{"max-age=5", time.Minute},           // clamped up to cache_min
		{"max-age=31536000", 24 * time.Hour}, // clamped down to cache_max
		{"no-store", time.Minute},
		{"max-age=abc", 10 * time.Minute},
	} {
		t.Run(tc.cacheControl, func(t *testing.T) {
			ks := &keyServer{cacheControl: tc.cacheControl}
			ks.set(jwkOf(t, "k1", &k.rsa.PublicKey))
			keySrv := testenv.Backend(t, ks)
			src := newJWKSSource(*jwksConfig(keySrv.URL).JWKS, nil)
			defer src.close()
			start := time.Now()
			set, err := src.fetch()
			if err != nil {
				t.Fatal(err)
			}
			if got := set.expires.Sub(start); got < tc.want || got > tc.want+time.Second {
				t.Errorf("Cache-Control %q: set kept for %v, want %v", tc.cacheControl, got, tc.want)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	k := testKeys()
	rsaJWK := jwkOf(t, "r", &k.rsa.PublicKey)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	doc := func(keys ...any) []byte {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return b
	}
	keys, skipped, err := parseJWKS(doc(
		rsaJWK,
		map[string]string{"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
		map[string]string{"kty": "RSA", "kid": "enc", "use": "enc", "n": rsaJWK["n"], "e": rsaJWK["e"]},
		jwkOf(t, "small", &small.PublicKey),
		map[string]string{"kty": "EC", "kid": "off", "crv": "P-256", "x": strings.Repeat("A", 43), "y": strings.Repeat("A", 43)},
		map[string]string{"kty": "RSA", "kid": "ps", "alg": "PS256", "n": rsaJWK["n"], "e": rsaJWK["e"]},
		map[string]string{"kty": "RSA", "kid": "bad-alg", "alg": "HS256", "n": rsaJWK["n"], "e": rsaJWK["e"]},
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].id != "r" || keys[1].id != "ps" || len(keys[1].algs) != 1 {
		t.Errorf("parseJWKS kept %+v, want r (every RSA algorithm) and ps (PS256 only)", keys)
	}
	if len(skipped) != 5 {
		t.Errorf("parseJWKS skipped %q, want the oct, enc, 1024-bit, off-curve and HS256-RSA keys", skipped)
	}
	if _, _, err := parseJWKS([]byte(`{"keys": []}`)); err == nil {
		t.Errorf("parseJWKS of an empty set: no error")
	}
	if _, _, err := parseJWKS([]byte(`<html>`)); err == nil {
		t.Errorf("parseJWKS of HTML: no error")
	}
}

func FuzzJWKS(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, _, err := parseJWKS(data)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > maxJWKSKeys {
			t.Fatalf("parseJWKS returned %d keys and no error", len(keys))
		}
		for _, k := range keys {
			if len(k.algs) == 0 {
				t.Fatalf("key %q with no algorithm", k.id)
			}
			for _, a := range k.algs {
				if strings.HasPrefix(a, "HS") || a == "none" {
					t.Fatalf("key %q from a key set allows %s", k.id, a)
				}
			}
		}
	})
}

func FuzzMaxAge(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := maxAge([]string{v}); ok && d < 0 {
			t.Fatalf("maxAge(%q) = %v", v, d)
		}
	})
}

// TestJWKSRedirectNotFollowed guards the bug where the key set client
// followed redirects: an https URL checked by config could send the fetch
// to plain http or to an internal address, and whatever answered there
// supplied the keys.
func TestJWKSRedirectNotFollowed(t *testing.T) {
	k := testKeys()
	ks := &keyServer{}
	ks.set(jwkOf(t, "k1", &k.rsa.PublicKey))
	target := testenv.Backend(t, ks)
	redirector := testenv.Backend(t, http.RedirectHandler(target.URL+"/jwks.json", http.StatusFound))
	cfg := jwksConfig(redirector.URL + "/jwks.json")
	log, logs := newLog()
	srv, _ := front(t, config.Auth{JWT: &cfg}, log)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, "k1", goodClaims())
	if status, _, _ := do(t, srv.Client(), "GET", srv.URL, map[string]string{"Authorization": "Bearer " + tok}); status != 503 {
		t.Errorf("token while the key set URL redirects = %d, want 503", status)
	}
	if n := ks.count(); n != 0 {
		t.Errorf("redirect target fetched %d times, want never", n)
	}
	if n := logs.count("redirects are not followed"); n != 1 {
		t.Errorf("redirect refusal logged %d times, want once", n)
	}
}
