package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"palisade/internal/config"
	"palisade/internal/httpsyntax"
	"palisade/internal/middleware"
)

// jwtAuth is one route's compiled JWT verification.
type jwtAuth struct {
	static  []verifyKey
	jwks    *jwksSource // nil without jwks
	parser  *jwt.Parser
	issuers []string
	header  string // canonical header the token is read from ("" with a cookie)
	bearer  bool   // the header is Authorization: the Bearer scheme is required
	cookie  string
	claims  []forwardedClaim
	// claimHeaders are the headers of claims, deleted from every request.
	claimHeaders []string
	keep         bool
	missing      string // the challenge for a request without a token
	invalid      string // the challenge for a bad token
	log          *slog.Logger
}

// forwardedClaim is a claim copied into a request header.
type forwardedClaim struct {
	claim, header string
}

type jwtHandler struct {
	jwt  *jwtAuth
	next http.Handler
}

// errKeySetUnavailable: no key set has been fetched yet, so the token
// could not be checked at all.
var errKeySetUnavailable = fmt.Errorf("JWKS not fetched yet: %w", ErrAuthUnavailable)

func newJWT(cfg config.AuthJWT, keep bool, log *slog.Logger) (*jwtAuth, error) {
	j := &jwtAuth{issuers: cfg.Issuer, keep: keep, log: log}
	algs := map[string]bool{}
	for i, kc := range cfg.Keys {
		var key any = []byte(kc.Secret)
		if kc.File != "" {
			k, err := readPublicKey(kc.File)
			if err != nil {
				return nil, fmt.Errorf("keys[%d]: %w", i, err)
			}
			key = k
		}
		vk, err := newVerifyKey(kc.ID, key, kc.Algorithms)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		for _, a := range vk.algs {
			algs[a] = true
		}
		j.static = append(j.static, vk)
	}
	if cfg.JWKS != nil {
		j.jwks = newJWKSSource(*cfg.JWKS, log)
		for _, a := range config.JWTAlgorithms() {
			if !strings.HasPrefix(a, "HS") {
				algs[a] = true
			}
		}
	}
	valid := make([]string, 0, len(algs))
	for _, a := range config.JWTAlgorithms() {
		if algs[a] {
			valid = append(valid, a)
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(valid),
		jwt.WithLeeway(cfg.ClockSkew.D()),
		jwt.WithIssuedAt(),
		jwt.WithJSONNumber(),
	}
	if cfg.RequireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	j.parser = jwt.NewParser(opts...)
	switch {
	case cfg.Token.Cookie != "":
		j.cookie = cfg.Token.Cookie
	case cfg.Token.Header != "" && !strings.EqualFold(cfg.Token.Header, "Authorization"):
		j.header = http.CanonicalHeaderKey(cfg.Token.Header)
	default:
		j.header, j.bearer = "Authorization", true
	}
	for _, c := range slices.Sorted(maps.Keys(cfg.Claims)) {
		j.claims = append(j.claims, forwardedClaim{claim: c, header: http.CanonicalHeaderKey(cfg.Claims[c])})
		j.claimHeaders = append(j.claimHeaders, http.CanonicalHeaderKey(cfg.Claims[c]))
	}
	j.missing = "Bearer"
	j.invalid = `Bearer error="invalid_token"`
	if cfg.Realm != "" {
		j.missing = `Bearer realm="` + cfg.Realm + `"`
		j.invalid = `Bearer realm="` + cfg.Realm + `", error="invalid_token"`
	}
	return j, nil
}

// ServeHTTP lets the request through when it carries a valid token, with
// the chosen claims in their headers.
func (h *jwtHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	j := h.jwt
	// The client's own copies never reach the upstream, whatever happens.
	deleteClientCopies(r.Header, j.claimHeaders)
	raw, found, ok := j.token(r)
	switch {
	case !found:
		// RFC 6750 §3.1: a request without credentials gets no error code.
		refuse(w, r, j.missing, ErrNoCredentials)
		return
	case !ok:
		refuse(w, r, j.invalid, fmt.Errorf("malformed token: %w", ErrBadCredentials))
		return
	}
	claims := jwt.MapClaims{}
	if _, err := j.parser.ParseWithClaims(raw, claims, j.keyFor); err != nil {
		if errors.Is(err, ErrAuthUnavailable) {
			middleware.WriteError(w, r, http.StatusServiceUnavailable, err)
			return
		}
		refuse(w, r, j.invalid, fmt.Errorf("%w: %w", ErrBadCredentials, err))
		return
	}
	if len(j.issuers) > 0 {
		iss, _ := claims["iss"].(string)
		if !slices.Contains(j.issuers, iss) {
			refuse(w, r, j.invalid, fmt.Errorf("%w: issuer %q not accepted", ErrBadCredentials, iss))
			return
		}
	}
	for _, c := range j.claims {
		if v, ok := claimValue(claims[c.claim]); ok {
			r.Header[c.header] = []string{v}
		}
	}
	if !j.keep {
		j.strip(r)
	}
	middleware.StateFrom(r.Context()).Authenticated = true
	h.next.ServeHTTP(w, r)
}

// token returns the raw token of r: found reports whether r carries one at
// all, ok whether it has the shape of a JWS compact serialization.
func (j *jwtAuth) token(r *http.Request) (raw string, found, ok bool) {
	if j.cookie != "" {
		c, err := r.Cookie(j.cookie)
		if err != nil {
			return "", false, false
		}
		return c.Value, true, isCompactJWS(c.Value)
	}
	v := r.Header[j.header]
	if len(v) == 0 {
		return "", false, false
	}
	if len(v) > 1 {
		return "", true, false
	}
	if !j.bearer {
		t := strings.TrimSpace(v[0])
		return t, true, isCompactJWS(t)
	}
	if !httpsyntax.HasPrefixFold(v[0], "Bearer ") {
		// RFC 6750 §3.1: credentials of another scheme (Basic, say) are no
		// Bearer credentials, so the challenge carries no error code.
		return "", false, false
	}
	t, ok := parseBearer(v[0])
	return t, true, ok && isCompactJWS(t)
}

// strip removes the token from r.
func (j *jwtAuth) strip(r *http.Request) {
	if j.cookie == "" {
		delete(r.Header, j.header)
		return
	}
	if kept := removeCookie(r.Header["Cookie"], j.cookie); len(kept) > 0 {
		r.Header["Cookie"] = kept
	} else {
		delete(r.Header, "Cookie")
	}
}

// keyFor is the jwt.Keyfunc: the keys that may verify token, chosen by its
// kid among those whose type allows its alg. The algorithm is checked
// here as well as by the parser's list, so a key can never verify an
// algorithm of another type whatever the list holds.
func (j *jwtAuth) keyFor(token *jwt.Token) (any, error) {
	alg := token.Method.Alg()
	kid, _ := token.Header["kid"].(string)
	var set jwt.VerificationKeySet
	pick := func(keys []verifyKey) {
		for i := range keys {
			k := &keys[i]
			if k.id == kid && k.allows(alg) {
				set.Keys = append(set.Keys, k.key)
			}
		}
	}
	pick(j.static)
	if len(set.Keys) == 0 && j.jwks != nil {
		keys, fetched := j.jwks.keys(kid)
		if !fetched && len(j.static) == 0 {
			return nil, errKeySetUnavailable
		}
		pick(keys)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key for kid %q and alg %s", kid, alg)
	}
	if len(set.Keys) == 1 {
		return set.Keys[0], nil
	}
	return set, nil
}

// claimValue formats a claim for a header: strings as they are, numbers
// and booleans in JSON, a list of those joined with commas. Objects, and
// values that cannot be a field value (RFC 9110 §5.5: no control byte but
// HTAB, so no CR, LF, NUL or DEL), are not forwarded.
func claimValue(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = strconv.FormatBool(x)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			p, ok := claimValue(e)
			if !ok || strings.Contains(p, ",") {
				return "", false
			}
			parts = append(parts, p)
		}
		s = strings.Join(parts, ",")
	default:
		return "", false
	}
	if !httpsyntax.ValidFieldValue(s) {
		return "", false
	}
	return httpsyntax.TrimOWS(s), true
}

// close drops idle connections to the key set's server.
func (j *jwtAuth) close() {
	if j.jwks != nil {
		j.jwks.close()
	}
}
