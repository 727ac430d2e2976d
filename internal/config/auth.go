package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Auth authenticates a route's requests (kind: auth) in exactly one of
// three modes: basic (users and bcrypt hashes), jwt (signed bearer tokens)
// or forward (a sub-request to an auth service). docs/auth.md describes
// every key.
type Auth struct {
	Basic   *AuthBasic   `yaml:"basic"`
	JWT     *AuthJWT     `yaml:"jwt"`
	Forward *AuthForward `yaml:"forward"`
	// KeepCredentials forwards the credentials the client sent
	// (Authorization, and the JWT cookie or header) to the upstream
	// (default false: they are removed once checked).
	KeepCredentials bool `yaml:"keep_credentials"`
}

// AuthBasic is HTTP Basic authentication (RFC 7617) against bcrypt
// hashes, from Users, HtpasswdFile, or both.
type AuthBasic struct {
	// Realm is sent in the WWW-Authenticate challenge (default
	// "palisade").
	Realm string `yaml:"realm"`
	// Users maps a user name to its bcrypt hash ("$2a$..."); write the
	// hash as ${ENV} to keep it out of the file.
	Users map[string]string `yaml:"users"`
	// HtpasswdFile is an htpasswd file of bcrypt entries (htpasswd -B),
	// relative to the config file.
	HtpasswdFile string `yaml:"htpasswd_file"`
	// CacheTTL is how long a verified user and password pair is accepted
	// without running bcrypt again (default 1m; 0 turns the cache off).
	CacheTTL Duration `yaml:"cache_ttl"`
	// CacheSize bounds the verified pairs remembered (default 1024).
	CacheSize int `yaml:"cache_size"`
}

// AuthJWT accepts requests carrying a signed JSON Web Token (RFC 7519).
type AuthJWT struct {
	// Keys are static verification keys: PEM public keys or HMAC secrets.
	Keys []AuthJWTKey `yaml:"keys"`
	// JWKS is a JSON Web Key Set fetched over HTTPS and cached.
	JWKS *AuthJWKS `yaml:"jwks"`
	// Issuer, when set, is the iss a token must carry (one of the list).
	Issuer StringList `yaml:"issuer"`
	// Audience, when set, must meet the token's aud in at least one value.
	Audience StringList `yaml:"audience"`
	// ClockSkew is the leeway allowed on exp, nbf and iat (default 30s).
	ClockSkew Duration `yaml:"clock_skew"`
	// RequireExp refuses tokens without exp (default true).
	RequireExp bool `yaml:"require_exp"`
	// Token says where the token is read: the Authorization header's
	// Bearer credentials (default), another header, or a cookie.
	Token AuthToken `yaml:"token"`
	// Claims maps a claim name to the request header its value is
	// forwarded in ({sub: X-User}); the client's own copies of those
	// headers are always removed.
	Claims map[string]string `yaml:"claims"`
	// Realm, when set, is added to the Bearer challenge.
	Realm string `yaml:"realm"`
}

// AuthJWTKey is one static verification key: exactly one of File and
// Secret.
type AuthJWTKey struct {
	// ID, when set, is the kid a token must name to be checked with this
	// key; a token without kid is tried against the keys without an ID.
	ID string `yaml:"kid"`
	// File is a PEM public key (RSA, ECDSA P-256/384/521 or Ed25519),
	// relative to the config file.
	File string `yaml:"file"`
	// Secret is an HMAC secret of at least 32 bytes; write it as ${ENV}.
	Secret string `yaml:"secret"`
	// Algorithms narrows the algorithms accepted for the key (default:
	// every one of its type: HS256/384/512 for a secret, RS*/PS* for RSA,
	// the ES* of the key's curve, EdDSA for Ed25519).
	Algorithms []string `yaml:"algorithms"`
}

// AuthJWKS is a key set fetched from URL.
type AuthJWKS struct {
	// URL is https, or http to a loopback address.
	URL string `yaml:"url"`
	// Timeout bounds one fetch (default 5s).
	Timeout Duration `yaml:"timeout"`
	// CacheDefault is how long a fetched set is used when the response
	// has no Cache-Control max-age (default 10m); a max-age is clamped
	// to [CacheMin, CacheMax] (defaults 1m and 24h).
	CacheDefault Duration `yaml:"cache_default"`
	CacheMin     Duration `yaml:"cache_min"`
	CacheMax     Duration `yaml:"cache_max"`
	// RefreshInterval is the least time between two fetches that a token
	// with an unknown kid, or a failed fetch, may cause (default 30s).
	RefreshInterval Duration `yaml:"refresh_interval"`
}

// AuthToken is where a JWT is read: Header (default Authorization, whose
// Bearer scheme is then required) or Cookie, not both.
type AuthToken struct {
	Header string `yaml:"header"`
	Cookie string `yaml:"cookie"`
}

// AuthForward asks an auth service about every request (nginx
// auth_request, Traefik forwardAuth).
type AuthForward struct {
	// URL of the auth service (http or https; required).
	URL string `yaml:"url"`
	// Timeout bounds the sub-request (default 5s); a timeout answers 503.
	Timeout Duration `yaml:"timeout"`
	// RequestHeaders are copied from the client's request to the
	// sub-request (default [Authorization, Cookie]).
	RequestHeaders []string `yaml:"request_headers"`
	// ResponseHeaders are copied from a 2xx answer onto the request sent
	// upstream; the client's own copies are removed (default none).
	ResponseHeaders []string `yaml:"response_headers"`
	// MaxBodySize bounds the body of a refusal passed back to the client
	// (default 64KiB); the rest is cut.
	MaxBodySize Size `yaml:"max_body_size"`
}

var (
	_ middlewareBody = (*Auth)(nil)
	_ defaulter      = (*AuthBasic)(nil)
	_ defaulter      = (*AuthJWT)(nil)
	_ defaulter      = (*AuthJWKS)(nil)
	_ defaulter      = (*AuthForward)(nil)
)

func (a *Auth) setDefaults() {}

func (b *AuthBasic) setDefaults() {
	b.Realm = "palisade"
	b.CacheTTL = Duration(time.Minute)
	b.CacheSize = 1024
}

func (j *AuthJWT) setDefaults() {
	j.ClockSkew = Duration(30 * time.Second)
	j.RequireExp = true
}

func (j *AuthJWKS) setDefaults() {
	j.Timeout = Duration(5 * time.Second)
	j.CacheDefault = Duration(10 * time.Minute)
	j.CacheMin = Duration(time.Minute)
	j.CacheMax = Duration(24 * time.Hour)
	j.RefreshInterval = Duration(30 * time.Second)
}

func (f *AuthForward) setDefaults() {
	f.Timeout = Duration(5 * time.Second)
	f.RequestHeaders = []string{"Authorization", "Cookie"}
	f.MaxBodySize = 64 << 10
}

// JWTAlgorithms lists every JWS algorithm the jwt mode accepts; "none" is
// never one of them.
func JWTAlgorithms() []string {
	return []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
		"PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

// MinHMACSecret is the shortest HMAC secret accepted, in bytes (RFC 7518
// §3.2 asks for a key at least as long as the hash output; 32 bytes for
// HS256).
const MinHMACSecret = 32

func (a *Auth) check() []Problem {
	var ps []Problem
	var modes []string
	if a.Basic != nil {
		modes = append(modes, "basic")
	}
	if a.JWT != nil {
		modes = append(modes, "jwt")
	}
	if a.Forward != nil {
		modes = append(modes, "forward")
	}
	switch {
	case len(modes) == 0:
		return []Problem{{Message: "no mode", Hint: "write one of basic: {...}, jwt: {...} or forward: {...}"}}
	case len(modes) > 1:
		ps = append(ps, Problem{Field: modes[1], Message: "cannot be combined with " + modes[0],
			Hint: "an auth middleware has one mode; write two middlewares on two routes instead"})
	}
	if a.Basic != nil {
		ps = append(ps, prefixed("basic", a.Basic.check())...)
	}
	if a.JWT != nil {
		ps = append(ps, prefixed("jwt", a.JWT.check())...)
	}
	if a.Forward != nil {
		ps = append(ps, prefixed("forward", a.Forward.check())...)
	}
	return ps
}

// prefixed puts ps under the field prefix.
func prefixed(prefix string, ps []Problem) []Problem {
	for i := range ps {
		if ps[i].Field == "" {
			ps[i].Field = prefix
		} else {
			ps[i].Field = join(prefix, ps[i].Field)
		}
	}
	return ps
}

func (b *AuthBasic) check() []Problem {
	var ps []Problem
	if len(b.Users) == 0 && b.HtpasswdFile == "" {
		ps = append(ps, Problem{Message: "no users", Hint: "write users: {alice: \"$2a$...\"} or htpasswd_file: users.htpasswd"})
	}
	if msg := checkQuotable(b.Realm); msg != "" {
		ps = append(ps, Problem{Field: "realm", Message: msg, Hint: "write plain text without quotes or backslashes"})
	}
	for _, u := range slices.Sorted(maps.Keys(b.Users)) {
		field := "users." + u
		if u == "" || strings.ContainsAny(u, ":") || strings.ContainsFunc(u, isControl) {
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("user name %q cannot be used", u),
				Hint: "a Basic user name has no colon and no control characters (RFC 7617 §2)"})
		}
		if msg, hint := CheckBcryptHash(b.Users[u]); msg != "" {
			ps = append(ps, Problem{Field: field, Message: msg, Hint: hint})
		}
	}
	if b.CacheTTL < 0 {
		ps = append(ps, Problem{Field: "cache_ttl", Message: "must not be negative", Hint: "write 1m, or 0 to verify every request"})
	}
	if b.CacheSize < 1 && b.CacheTTL > 0 {
		ps = append(ps, Problem{Field: "cache_size", Message: "must be positive", Hint: "write 1024, or cache_ttl: 0 to turn the cache off"})
	}
	return ps
}

// CheckBcryptHash returns what is wrong with a password hash, and how to
// fix it, or "" when it has the shape of a bcrypt hash. The htpasswd
// reader applies the same rule to every line.
func CheckBcryptHash(h string) (problem, hint string) {
	const fix = "hash the password with palisade hash-password (or htpasswd -nB user)"
	switch {
	case strings.HasPrefix(h, "$apr1$"):
		return "is an Apache MD5 (apr1) hash, which is not accepted", fix
	case strings.HasPrefix(h, "{SHA}"):
		return "is a SHA-1 hash, which is not accepted", fix
	case strings.HasPrefix(h, "$1$"), strings.HasPrefix(h, "$5$"), strings.HasPrefix(h, "$6$"):
		return "is a crypt(3) MD5 or SHA-2 hash, which is not accepted", fix
	case !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") && !strings.HasPrefix(h, "$2y$"):
		return "is not a bcrypt hash (or is a plain password)", fix
	case len(h) != 60:
		return fmt.Sprintf("is a bcrypt hash of %d characters, not 60", len(h)), "copy the whole hash; quote it in YAML"
	}
	return "", ""
}

func (j *AuthJWT) check() []Problem {
	var ps []Problem
	if len(j.Keys) == 0 && j.JWKS == nil {
		ps = append(ps, Problem{Message: "no keys", Hint: "write keys: [{file: key.pem}] or jwks: {url: https://...}"})
	}
	kids := map[string]int{}
	for i, k := range j.Keys {
		ps = append(ps, prefixed(fmt.Sprintf("keys[%d]", i), k.check())...)
		if k.ID == "" {
			continue
		}
		if first, dup := kids[k.ID]; dup {
			ps = append(ps, Problem{Field: fmt.Sprintf("keys[%d].kid", i), Message: fmt.Sprintf("kid %q is used by keys[%d] too", k.ID, first),
				Hint: "give each key its own kid"})
		}
		kids[k.ID] = i
	}
	if j.JWKS != nil {
		ps = append(ps, prefixed("jwks", j.JWKS.check())...)
	}
	if j.ClockSkew < 0 || j.ClockSkew.D() > 10*time.Minute {
		ps = append(ps, Problem{Field: "clock_skew", Message: "must be between 0 and 10m", Hint: "write 30s"})
	}
	switch t := j.Token; {
	case t.Header != "" && t.Cookie != "":
		ps = append(ps, Problem{Field: "token.cookie", Message: "cannot be combined with token.header", Hint: "read the token from one place"})
	case t.Header != "" && !isToken(t.Header):
		ps = append(ps, Problem{Field: "token.header", Message: fmt.Sprintf("%q is not a header name", t.Header)})
	case t.Cookie != "" && !isToken(t.Cookie):
		ps = append(ps, Problem{Field: "token.cookie", Message: fmt.Sprintf("%q is not a cookie name", t.Cookie)})
	}
	tokenHeader := "Authorization"
	if j.Token.Header != "" {
		tokenHeader = j.Token.Header
	}
	byHeader := map[string]string{} // folded header name → claim
	for _, c := range slices.Sorted(maps.Keys(j.Claims)) {
		h, field := j.Claims[c], "claims."+c
		switch {
		case !isToken(h):
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("%q is not a header name", h), Hint: "write a header name such as X-User"})
			continue
		case !isClaimHeader(h):
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("claims cannot be forwarded in %s", h), Hint: "write a header of your own such as X-User"})
			continue
		case foldHeaderName(h) == foldHeaderName(tokenHeader):
			// The middleware deletes the client's copies of claim headers
			// before it reads the token: every request would be refused.
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("%s is the header the token is read from", h), Hint: "write a header of your own such as X-User"})
			continue
		}
		if other, dup := byHeader[foldHeaderName(h)]; dup {
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("%s is also the header of claim %q", h, other), Hint: "forward each claim in a header of its own"})
			continue
		}
		byHeader[foldHeaderName(h)] = c
	}
	if msg := checkQuotable(j.Realm); msg != "" {
		ps = append(ps, Problem{Field: "realm", Message: msg, Hint: "write plain text without quotes or backslashes"})
	}
	return ps
}

func (k *AuthJWTKey) check() []Problem {
	var ps []Problem
	switch {
	case k.File == "" && k.Secret == "":
		ps = append(ps, Problem{Message: "no key", Hint: "write file: public.pem or secret: ${JWT_SECRET}"})
	case k.File != "" && k.Secret != "":
		ps = append(ps, Problem{Field: "secret", Message: "cannot be combined with file", Hint: "write one key per entry"})
	case k.Secret != "" && len(k.Secret) < MinHMACSecret:
		ps = append(ps, Problem{Field: "secret", Message: fmt.Sprintf("is %d bytes, shorter than %d", len(k.Secret), MinHMACSecret),
			Hint: "use a random secret of at least 32 bytes (openssl rand -base64 32)"})
	}
	for i, a := range k.Algorithms {
		field := fmt.Sprintf("algorithms[%d]", i)
		switch {
		case !slices.Contains(JWTAlgorithms(), a):
			ps = append(ps, Problem{Field: field, Message: fmt.Sprintf("unknown algorithm %q", a), Hint: oneOfHint(a, "known algorithms", JWTAlgorithms())})
		case k.Secret != "" && !strings.HasPrefix(a, "HS"):
			ps = append(ps, Problem{Field: field, Message: a + " cannot be used with a secret", Hint: "a secret signs HS256, HS384 or HS512"})
		case k.File != "" && strings.HasPrefix(a, "HS"):
			ps = append(ps, Problem{Field: field, Message: a + " cannot be used with a public key", Hint: "HMAC takes a secret; a public key used as one is the algorithm confusion attack"})
		}
	}
	return ps
}

func (j *AuthJWKS) check() []Problem {
	var ps []Problem
	if msg, hint := checkJWKSURL(j.URL); msg != "" {
		ps = append(ps, Problem{Field: "url", Message: msg, Hint: hint})
	}
	if j.Timeout <= 0 {
		ps = append(ps, Problem{Field: "timeout", Message: "must be positive", Hint: "write 5s"})
	}
	if j.CacheMin <= 0 || j.CacheMax < j.CacheMin {
		ps = append(ps, Problem{Field: "cache_min", Message: "must be positive and at most cache_max", Hint: "write cache_min: 1m, cache_max: 24h"})
	}
	if j.CacheDefault < j.CacheMin || j.CacheDefault > j.CacheMax {
		ps = append(ps, Problem{Field: "cache_default", Message: "must be between cache_min and cache_max", Hint: "write 10m"})
	}
	if j.RefreshInterval <= 0 {
		ps = append(ps, Problem{Field: "refresh_interval", Message: "must be positive", Hint: "write 30s"})
	}
	return ps
}

// checkJWKSURL accepts https URLs, and http ones to a loopback address: a
// key set fetched in the clear could be replaced on the way.
func checkJWKSURL(s string) (problem, hint string) {
	if s == "" {
		return "missing", "write the https URL of the identity provider's key set"
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Sprintf("%q is not an absolute URL", s), "write https://issuer.example.com/.well-known/jwks.json"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Sprintf("%q is plain http to a host that is not loopback", s), "fetch keys over https; anyone on the path could replace them"
		}
	default:
		return fmt.Sprintf("%q is not an http or https URL", s), "write https://..."
	}
	return "", ""
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (f *AuthForward) check() []Problem {
	var ps []Problem
	u, err := url.Parse(f.URL)
	switch {
	case f.URL == "":
		ps = append(ps, Problem{Field: "url", Message: "missing", Hint: "write the auth service's URL, like http://127.0.0.1:9091/verify"})
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		ps = append(ps, Problem{Field: "url", Message: fmt.Sprintf("%q is not an absolute http or https URL", f.URL), Hint: "write http://127.0.0.1:9091/verify"})
	}
	if f.Timeout <= 0 {
		ps = append(ps, Problem{Field: "timeout", Message: "must be positive", Hint: "write 5s"})
	}
	for i, h := range f.RequestHeaders {
		switch {
		case !isToken(h):
			ps = append(ps, Problem{Field: fmt.Sprintf("request_headers[%d]", i), Message: fmt.Sprintf("%q is not a header name", h)})
		case isHopByHop(h):
			// Connection and Upgrade copied from the client would turn the
			// sub-request into an upgrade or name fields for removal.
			ps = append(ps, Problem{Field: fmt.Sprintf("request_headers[%d]", i), Message: h + " is a hop-by-hop or framing field", Hint: "copy end-to-end fields such as Authorization or Cookie"})
		}
	}
	for i, h := range f.ResponseHeaders {
		switch {
		case !isToken(h):
			ps = append(ps, Problem{Field: fmt.Sprintf("response_headers[%d]", i), Message: fmt.Sprintf("%q is not a header name", h)})
		case isHopByHop(h):
			ps = append(ps, Problem{Field: fmt.Sprintf("response_headers[%d]", i), Message: h + " is a hop-by-hop or framing field", Hint: "copy end-to-end fields such as X-Auth-User"})
		}
	}
	if f.MaxBodySize < 0 {
		ps = append(ps, Problem{Field: "max_body_size", Message: "must not be negative", Hint: "write 64KiB"})
	}
	return ps
}

// isHopByHop reports whether a field belongs to one connection or frames
// the message (RFC 9110 §7.6.1), and so can never be copied between
// messages.
func isHopByHop(h string) bool {
	for _, f := range []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te", "Trailer", "Upgrade", "Content-Length", "Host"} {
		if strings.EqualFold(h, f) {
			return true
		}
	}
	return false
}

// isClaimHeader reports whether a claim may be forwarded in the request
// header h: not a credential, not a hop-by-hop or framing field (the proxy
// drops or derives those), and not a forwarding field (the proxy replaces
// them, so the claim would vanish or, from a trusted peer, pose as the
// client's address).
func isClaimHeader(h string) bool {
	if isHopByHop(h) {
		return false
	}
	switch foldHeaderName(h) {
	case "authorization", "proxy-authorization", "cookie", "expect", "via",
		"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-request-id":
		return false
	}
	return true
}

// foldHeaderName returns h in lower case with underscores read as dashes,
// the spelling CGI-style backends cannot tell apart from h.
func foldHeaderName(h string) string {
	return strings.ReplaceAll(strings.ToLower(h), "_", "-")
}

// checkQuotable returns what stops s from being sent as a quoted-string
// (RFC 9110 §5.6.4) without escapes, or "".
func checkQuotable(s string) string {
	if strings.ContainsAny(s, `"\`) || strings.ContainsFunc(s, isControl) {
		return fmt.Sprintf("%q holds a quote, a backslash or a control character", s)
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
