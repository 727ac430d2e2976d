package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
	"palisade/internal/middleware"
)

// maxBasicCredentials bounds the decoded user-pass of a Basic header that
// is looked at; longer ones are refused without running bcrypt (which
// reads at most 72 bytes of a password anyway).
const maxBasicCredentials = 512

// basic is one route's compiled Basic authentication (RFC 7617).
type basic struct {
	users     map[string][]byte // user name → bcrypt hash
	dummy     []byte            // compared for unknown users, so they cost as much as known ones
	challenge string
	keep      bool
	cache     *credentialCache // nil when off
}

type basicHandler struct {
	basic *basic
	next  http.Handler
}

func newBasic(cfg config.AuthBasic, keep bool) (*basic, error) {
	b := &basic{
		users:     make(map[string][]byte, len(cfg.Users)),
		challenge: `Basic realm="` + cfg.Realm + `", charset="UTF-8"`,
		keep:      keep,
	}
	for _, u := range slices.Sorted(maps.Keys(cfg.Users)) {
		b.users[u] = []byte(cfg.Users[u])
	}
	if cfg.HtpasswdFile != "" {
		users, err := readHtpasswd(cfg.HtpasswdFile)
		if err != nil {
			return nil, err
		}
		for u, h := range users {
			if _, dup := b.users[u]; dup {
				return nil, fmt.Errorf("user %q is both in users and in %s", u, cfg.HtpasswdFile)
			}
			b.users[u] = h
		}
	}
	// The dummy hash has the highest cost in use, so an unknown user is
	// not told apart by a faster (or slower) answer.
	cost := bcrypt.MinCost
	for u, h := range b.users {
		c, err := bcrypt.Cost(h)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", u, err)
		}
		cost = max(cost, c)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, err
	}
	b.dummy = dummy
	if cfg.CacheTTL > 0 {
		b.cache = newCredentialCache(cfg.CacheSize, cfg.CacheTTL.D())
	}
	return b, nil
}

// readHtpasswd reads an htpasswd file of bcrypt entries ("user:$2y$..."),
// skipping blank lines and # comments. Any other scheme is refused with
// the line that holds it: accepting MD5 or SHA-1 entries would quietly
// make the weakest hash in the file the strength of the whole.
func readHtpasswd(path string) (map[string][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	users := make(map[string][]byte)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: not a user:hash line", path, n)
		}
		if problem, hint := config.CheckBcryptHash(hash); problem != "" {
			return nil, fmt.Errorf("%s:%d: user %q: the hash %s (hint: %s)", path, n, user, problem, hint)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q is listed twice", path, n, user)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, nil
}

// ServeHTTP lets the request through when its Basic credentials verify.
func (h *basicHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := h.basic
	v := r.Header["Authorization"]
	if len(v) == 0 {
		refuse(w, r, b.challenge, ErrNoCredentials)
		return
	}
	if len(v) != 1 || !b.verify(v[0]) {
		refuse(w, r, b.challenge, ErrBadCredentials)
		return
	}
	if !b.keep {
		delete(r.Header, "Authorization")
	}
	middleware.StateFrom(r.Context()).Authenticated = true
	h.next.ServeHTTP(w, r)
}

// verify reports whether the Authorization value h holds Basic credentials
// of a configured user. A pair verified within the cache's TTL is accepted
// without bcrypt; a failure is never cached, so every wrong guess costs
// the guesser a bcrypt comparison.
func (b *basic) verify(h string) bool {
	var buf [maxBasicCredentials]byte
	creds, ok := decodeBasic(h, buf[:])
	if !ok {
		return false
	}
	var key [sha256.Size]byte
	if b.cache != nil {
		key = b.cache.key(creds)
		if b.cache.hit(key) {
			return true
		}
	}
	user, pass, _ := bytes.Cut(creds, []byte(":"))
	hash, known := b.users[string(user)]
	if !known {
		hash = b.dummy
	}
	if bcrypt.CompareHashAndPassword(hash, pass) != nil || !known {
		return false
	}
	if b.cache != nil {
		b.cache.add(key)
	}
	return true
}

// decodeBasic decodes the credentials of an Authorization value with the
// Basic scheme (RFC 7617 §2: "Basic" 1*SP token68 of base64 user-id ":"
// password) into buf, and returns them. It refuses another scheme, bad
// base64, credentials longer than buf, a missing colon and control
// characters in the user-id.
func decodeBasic(h string, buf []byte) ([]byte, bool) {
	const scheme = "Basic "
	if !httpsyntax.HasPrefixFold(h, scheme) {
		return nil, false
	}
	enc := strings.Trim(h[len(scheme):], " ")
	var src [(maxBasicCredentials + 2) / 3 * 4]byte
	if enc == "" || len(enc) > len(src) || base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return nil, false
	}
	// Copied to the stack: converting enc to []byte would allocate.
	n, err := base64.StdEncoding.Strict().Decode(buf, src[:copy(src[:], enc)])
	if err != nil {
		return nil, false
	}
	creds := buf[:n]
	i := bytes.IndexByte(creds, ':')
	if i <= 0 {
		return nil, false
	}
	for _, c := range creds[:i] {
		if c < 0x20 || c == 0x7f {
			return nil, false
		}
	}
	return creds, true
}

// credentialCache remembers user:password pairs that bcrypt verified, for
// ttl, so that a client sending the same credentials on every request (as
// browsers do) costs one bcrypt comparison per ttl rather than one per
// request. Pairs are keyed by SHA-256 over a random per-middleware salt
// and the pair, so the cache holds no password and its keys cannot be
// looked up in a precomputed table. The trade-off: within ttl, a
// verified password is accepted at the cost of a hash, so a process memory
// dump holds salted fast hashes of recently used passwords, and a pair
// stays accepted until its entry expires or a reload drops the cache (a
// user removed from the config loses access at the reload, because the
// cache belongs to the middleware the reload replaces).
//
// It is sharded, a mutex per shard; each shard holds at most its share of
// the configured size, evicting expired entries first and then an
// arbitrary one.
type credentialCache struct {
	salt   [16]byte
	ttl    time.Duration
	perCap int
	shards [credentialShards]credentialShard
}

const credentialShards = 16

type credentialShard struct {
	mu      sync.Mutex
	expires map[[sha256.Size]byte]int64 // unix nanoseconds
}

func newCredentialCache(size int, ttl time.Duration) *credentialCache {
	c := &credentialCache{ttl: ttl, perCap: max(1, (size+credentialShards-1)/credentialShards)}
	rand.Read(c.salt[:])
	for i := range c.shards {
		c.shards[i].expires = make(map[[sha256.Size]byte]int64)
	}
	return c
}

// key returns the cache key of creds.
func (c *credentialCache) key(creds []byte) [sha256.Size]byte {
	var buf [len(c.salt) + maxBasicCredentials]byte
	n := copy(buf[:], c.salt[:])
	n += copy(buf[n:], creds)
	return sha256.Sum256(buf[:n])
}

func (c *credentialCache) hit(key [sha256.Size]byte) bool {
	s := &c.shards[key[0]%credentialShards]
	now := time.Now().UnixNano()
	s.mu.Lock()
	exp, ok := s.expires[key]
	if ok && exp <= now {
		delete(s.expires, key)
		ok = false
	}
	s.mu.Unlock()
	return ok
}

func (c *credentialCache) add(key [sha256.Size]byte) {
	s := &c.shards[key[0]%credentialShards]
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.expires[key]; !ok && len(s.expires) >= c.perCap {
		s.evictLocked(now.UnixNano())
	}
	s.expires[key] = now.Add(c.ttl).UnixNano()
}

// evictLocked makes room for one entry: every expired one goes, or else
// one arbitrary entry (Go's map iteration order is unspecified).
func (s *credentialShard) evictLocked(now int64) {
	freed := false
	for k, exp := range s.expires {
		if exp <= now {
			delete(s.expires, k)
			freed = true
		}
	}
	if freed {
		return
	}
	for k := range s.expires {
		delete(s.expires, k)
		return
	}
}

// lenForTest returns the number of entries cached.
func (c *credentialCache) lenForTest() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.expires)
		s.mu.Unlock()
	}
	return n
}
