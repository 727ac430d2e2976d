package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
)

// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A; RFC
// 7518 §3.3 asks for at least 2048 bits).
const minRSABits = 2048

// verifyKey is one key a token may be verified with, and the algorithms
// it may be used with. The algorithms come from the key's type (and the
// config or the JWK's alg, which can only narrow them), never from a
// token: a token naming another algorithm is refused before its signature
// is looked at, which is what stops HS256 being checked with an RSA
// public key used as an HMAC secret.
type verifyKey struct {
	id   string
	key  any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	algs []string
}

func (k *verifyKey) allows(alg string) bool { return slices.Contains(k.algs, alg) }

// algorithmsFor returns the algorithms a key of key's type may verify.
func algorithmsFor(key any) ([]string, error) {
	switch k := key.(type) {
	case []byte:
		return []string{"HS256", "HS384", "HS512"}, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is shorter than %d", k.N.BitLen(), minRSABits)
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("ECDSA curve %s is not accepted", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("%T keys are not accepted", key)
}

// newVerifyKey returns key for the algorithms of its type narrowed to
// want (all of them when want is empty).
func newVerifyKey(id string, key any, want []string) (verifyKey, error) {
	algs, err := algorithmsFor(key)
	if err != nil {
		return verifyKey{}, err
	}
	if len(want) > 0 {
		for _, a := range want {
			if !slices.Contains(algs, a) {
				return verifyKey{}, fmt.Errorf("algorithm %s cannot be used with this key (it takes %s)", a, strings.Join(algs, ", "))
			}
		}
		algs = slices.Clone(want)
	}
	return verifyKey{id: id, key: key, algs: algs}, nil
}

// readPublicKey reads the first PEM block of path: a PUBLIC KEY, an RSA
// PUBLIC KEY or a CERTIFICATE, whose public key it returns. A private key
// is refused: the proxy only verifies.
func readPublicKey(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return c.PublicKey, nil
	}
	if strings.Contains(block.Type, "PRIVATE") {
		return nil, fmt.Errorf("%s: holds a %s; give the public key (openssl pkey -pubout)", path, block.Type)
	}
	return nil, fmt.Errorf("%s: PEM block %q is not a public key", path, block.Type)
}

// maxJWKSKeys bounds the keys taken from one key set.
const maxJWKSKeys = 64

// jsonWebKey is the part of a JWK (RFC 7517 §4, RFC 7518 §6) that is read.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// errNoUsableKeys: a key set holds no key the proxy can verify with.
var errNoUsableKeys = errors.New("no usable signature keys")

// parseJWKS returns the signature keys of a JWK Set document. Keys for
// encryption (use other than sig), symmetric keys (a shared secret has no
// place in a published set), unknown types and curves, RSA keys under
// 2048 bits and points off their curve are skipped, each with a reason in
// skipped; a document that is not a key set, or holds no usable key, is
// an error.
func parseJWKS(data []byte) (keys []verifyKey, skipped []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JWK set: %w", err)
	}
	for i, raw := range doc.Keys {
		if len(keys) == maxJWKSKeys {
			skipped = append(skipped, fmt.Sprintf("keys past the first %d", maxJWKSKeys))
			break
		}
		var jk jsonWebKey
		if err := json.Unmarshal(raw, &jk); err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		k, err := jk.verifyKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): %v", i, jk.Kid, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, errNoUsableKeys
	}
	return keys, skipped, nil
}

func (jk *jsonWebKey) verifyKey() (verifyKey, error) {
	if jk.Use != "" && jk.Use != "sig" {
		return verifyKey{}, fmt.Errorf("use %q is not sig", jk.Use)
	}
	var key any
	switch jk.Kty {
	case "RSA":
		n, err1 := b64url(jk.N)
		e, err2 := b64url(jk.E)
		if err := errors.Join(err1, err2); err != nil {
			return verifyKey{}, err
		}
		if len(e) == 0 || len(e) > 4 || len(n) == 0 {
			return verifyKey{}, errors.New("bad RSA modulus or exponent")
		}
		exp := 0
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		if exp < 3 || exp%2 == 0 {
			return verifyKey{}, errors.New("bad RSA exponent")
		}
		key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	case "EC":
		var curve elliptic.Curve
		switch jk.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return verifyKey{}, fmt.Errorf("curve %q is not accepted", jk.Crv)
		}
		x, err1 := b64url(jk.X)
		y, err2 := b64url(jk.Y)
		if err := errors.Join(err1, err2); err != nil {
			return verifyKey{}, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return verifyKey{}, errors.New("coordinates of the wrong length")
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return verifyKey{}, err
		}
		key = pub
	case "OKP":
		if jk.Crv != "Ed25519" {
			return verifyKey{}, fmt.Errorf("curve %q is not accepted", jk.Crv)
		}
		x, err := b64url(jk.X)
		if err != nil {
			return verifyKey{}, err
		}
		if len(x) != ed25519.PublicKeySize {
			return verifyKey{}, errors.New("Ed25519 key of the wrong length")
		}
		key = ed25519.PublicKey(x)
	case "oct":
		return verifyKey{}, errors.New("symmetric keys are not taken from a key set")
	default:
		return verifyKey{}, fmt.Errorf("key type %q is not accepted", jk.Kty)
	}
	var want []string
	if jk.Alg != "" {
		want = []string{jk.Alg}
	}
	return newVerifyKey(jk.Kid, key, want)
}

// b64url decodes base64url without padding (RFC 7515 §2), tolerating
// padding that some publishers add.
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
