package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// scalarValue is implemented by pointers to types written as one YAML
// scalar with their own syntax (Duration, Size). The decoder hands
// parseScalar the scalar after ${ENV} substitution; a type a new feature
// needs ("100/s") only implements it to be decodable.
type scalarValue interface {
	// parseScalar sets the value from s or returns a *valueError saying
	// what is wrong with s; the receiver is unchanged on error.
	parseScalar(s string) error
	// typeName names the type in messages ("a duration").
	typeName() string
}

var (
	_ scalarValue = (*Duration)(nil)
	_ scalarValue = (*Size)(nil)
)

// valueError is a problem with one written value. The decoder prints it as
// the quoted value followed by problem, so every such message has one
// shape: `"5" is not a duration (hint: write 5s)`.
type valueError struct {
	problem string // "is not a duration"
	hint    string // may be empty
}

func (e *valueError) Error() string { return e.problem }

// parseScalar accepts Go duration syntax ("300ms", "5s", "1m30s"), and "0".
// A bare number is rejected because its unit would be a guess; negative
// durations are rejected because no setting gives them a meaning.
func (d *Duration) parseScalar(s string) error {
	if s == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &valueError{problem: "is not a duration", hint: durationHint(s)}
	}
	if v < 0 {
		return &valueError{problem: "is negative", hint: "write 0s or a positive duration"}
	}
	*d = Duration(v)
	return nil
}

func (*Duration) typeName() string { return "a duration" }

// durationHint suggests a fix for s, which time.ParseDuration rejected.
func durationHint(s string) string {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return "write " + s + "s"
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 && days < math.MaxInt32 {
			return "write " + strconv.Itoa(days*24) + "h; the largest unit is h"
		}
	}
	return "write a number with a unit: 300ms, 5s, 1m30s or 2h"
}

// sizeUnits are the units Size accepts: decimal (KB = 1000 bytes) and
// binary (KiB = 1024 bytes).
func sizeUnits() []struct {
	name string
	n    int64
} {
	return []struct {
		name string
		n    int64
	}{
		{"B", 1},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	}
}

// parseScalar accepts a whole number of bytes with an optional unit: "512",
// "512B", "10KB" (10,000), "64KiB" (65,536), "1GiB".
func (sz *Size) parseScalar(s string) error {
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	const usage = "write a whole number of bytes with a unit: 512B, 64KiB, 10MB or 1GiB"
	if digits == 0 {
		if strings.HasPrefix(s, "-") {
			return &valueError{problem: "is negative", hint: "write 0 or a positive size"}
		}
		return &valueError{problem: "is not a size", hint: usage}
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil {
		return &valueError{problem: "is too large", hint: "the largest size is 8EiB"}
	}
	unit := s[digits:]
	if unit == "" {
		*sz = Size(n)
		return nil
	}
	for _, u := range sizeUnits() {
		if unit == u.name {
			if n > math.MaxInt64/u.n {
				return &valueError{problem: "is too large", hint: "the largest size is 8EiB"}
			}
			*sz = Size(n * u.n)
			return nil
		}
	}
	// Offer the spelling the author most likely meant.
	trimmed := strings.TrimSpace(unit)
	for _, u := range sizeUnits() {
		if strings.EqualFold(trimmed, u.name) {
			return &valueError{problem: "is not a size", hint: "write " + s[:digits] + u.name}
		}
	}
	return &valueError{problem: "is not a size", hint: usage}
}

func (*Size) typeName() string { return "a size" }

// parsePrefix accepts a CIDR prefix ("10.0.0.0/8") or a bare address, which
// stands for itself alone (/32 or /128). A prefix with bits set past its
// length is rejected: "10.1.2.3/8" is almost always a typo for a host or
// for 10.0.0.0/8, and silently masking it would hide which.
func parsePrefix(s string) (netip.Prefix, error) {
	const hint = "write a CIDR prefix like 10.0.0.0/8 or an address like 127.0.0.1"
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, &valueError{problem: "is not an IP address or prefix", hint: hint}
		}
		if z := a.Zone(); z != "" {
			return netip.Prefix{}, &valueError{problem: "has an IPv6 zone", hint: "remove %" + z}
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, &valueError{problem: "is not an IP address or prefix", hint: hint}
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, &valueError{problem: "has bits set past its prefix length", hint: "write " + m.String()}
	}
	return p, nil
}

// Ratio is a share written as a percentage ("50%", "12.5%") or a fraction
// ("0.5"); it holds the fraction.
type Ratio float64

var _ scalarValue = (*Ratio)(nil)

// parseScalar accepts "N%" and plain fractions; negative values are
// rejected because no setting gives them a meaning.
func (r *Ratio) parseScalar(s string) error {
	num, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return &valueError{problem: "is not a ratio", hint: `write a percentage such as 50% or a fraction such as 0.5`}
	}
	if pct {
		v /= 100
	}
	if v < 0 {
		return &valueError{problem: "is negative", hint: "write 0% or more"}
	}
	*r = Ratio(v)
	return nil
}

func (*Ratio) typeName() string { return "a ratio" }

// String writes r as a percentage.
func (r Ratio) String() string { return strconv.FormatFloat(float64(r)*100, 'f', -1, 64) + "%" }

// Rate is a count per unit of time written "N/s", "N/m" or "N/h"
// ("100/s", "6000/m"): Count events every Per.
type Rate struct {
	Count int64
	Per   time.Duration
}

var _ scalarValue = (*Rate)(nil)

// maxRateCount bounds a rate's count so that the interval between two
// events, Per/Count, stays at least a nanosecond.
const maxRateCount = 1_000_000_000

// parseScalar accepts a positive whole count, a slash and one of the units
// s, m and h.
func (r *Rate) parseScalar(s string) error {
	const usage = "write a count per second, minute or hour: 100/s, 6000/m or 10/h"
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		if _, err := strconv.ParseInt(s, 10, 64); err == nil {
			return &valueError{problem: "is not a rate", hint: "write " + s + "/s"}
		}
		return &valueError{problem: "is not a rate", hint: usage}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil {
		return &valueError{problem: "is not a rate", hint: usage}
	}
	if n <= 0 {
		return &valueError{problem: "is not a positive rate", hint: usage}
	}
	var per time.Duration
	switch strings.TrimSpace(unit) {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	case "sec", "second", "1s":
		return &valueError{problem: "is not a rate", hint: "write " + num + "/s"}
	case "min", "minute", "1m":
		return &valueError{problem: "is not a rate", hint: "write " + num + "/m"}
	case "hour", "1h":
		return &valueError{problem: "is not a rate", hint: "write " + num + "/h"}
	default:
		return &valueError{problem: "is not a rate", hint: usage}
	}
	if n > maxRateCount || time.Duration(n) > per {
		return &valueError{problem: "is too large", hint: "the largest rate is 1000000000/s"}
	}
	*r = Rate{Count: n, Per: per}
	return nil
}

func (*Rate) typeName() string { return "a rate" }

// String writes r as it is written in a config.
func (r Rate) String() string {
	unit := "s"
	switch r.Per {
	case time.Minute:
		unit = "m"
	case time.Hour:
		unit = "h"
	}
	return strconv.FormatInt(r.Count, 10) + "/" + unit
}
