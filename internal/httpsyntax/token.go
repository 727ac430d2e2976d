package httpsyntax

// Character classes are 128-bit sets split in two words: bit c of lo for
// bytes 0-63, bit c-64 of hi for bytes 64-127. Bytes from 128 up are in no
// set. Constants rather than tables keep the package free of mutable state;
// TestCharClasses checks them against the RFC grammar.
const (
	// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" /
	// "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
	tcharLo = 0x03ff6cfa00000000
	tcharHi = 0x57ffffffc7fffffe
)

// InSet reports whether c is in the 128-bit set whose bytes 0-63 are the bits
// of lo and bytes 64-127 the bits of hi. Callers with sets of their own (host
// bytes, path bytes) define them as constants in this form.
func InSet(c byte, lo, hi uint64) bool {
	if c < 64 {
		return lo>>c&1 != 0
	}
	if c < 128 {
		return hi>>(c-64)&1 != 0
	}
	return false
}

// IsTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func IsTchar(c byte) bool { return InSet(c, tcharLo, tcharHi) }

// IsToken reports whether s is a non-empty RFC 9110 §5.6.2 token, the form
// of a method, a field name and most protocol elements.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !IsTchar(s[i]) {
			return false
		}
	}
	return true
}
