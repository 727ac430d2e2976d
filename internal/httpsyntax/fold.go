package httpsyntax

// EqualFold reports whether a and b are equal ignoring ASCII case only.
// HTTP tokens are ASCII: strings.EqualFold would also match non-tokens such
// as "zſtd" (U+017F folds to s).
func EqualFold(a, b string) bool {
	return len(a) == len(b) && HasPrefixFold(a, b)
}

// HasPrefixFold reports whether s begins with prefix, ignoring ASCII case
// only (auth schemes, codings and other tokens are case-insensitive, RFC
// 9110 §5.6.2, §11.1).
func HasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		a, b := s[i], prefix[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// EqualFoldUnderscore is EqualFold with '_' and '-' counted as one
// character: how CGI, FastCGI, WSGI and Rack backends compare field names
// (they read both as '_'), so a proxy that removes a field must remove
// every spelling such a backend would take for it.
func EqualFoldUnderscore(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
