package config

import (
	"net/netip"
	"testing"
	"time"
)

// problem renders what parseScalar and parsePrefix return the way the
// decoder prints it: the quoted value, the problem and the hint.
func problem(s string, err error) string {
	if err == nil {
		return ""
	}
	ve, ok := err.(*valueError)
	if !ok {
		return "not a *valueError: " + err.Error()
	}
	msg := `"` + s + `" ` + ve.problem
	if ve.hint != "" {
		msg += " (hint: " + ve.hint + ")"
	}
	return msg
}

func TestDurationParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		problem string
	}{
		{"5s", 5 * time.Second, ""},
		{"1m30s", 90 * time.Second, ""},
		{"300ms", 300 * time.Millisecond, ""},
		{"2h", 2 * time.Hour, ""},
		{"1.5s", 1500 * time.Millisecond, ""},
		{"0", 0, ""},
		{"0s", 0, ""},
		{"5", 0, `"5" is not a duration (hint: write 5s)`},
		{"1.5", 0, `"1.5" is not a duration (hint: write 1.5s)`},
		{"-5s", 0, `"-5s" is negative (hint: write 0s or a positive duration)`},
		{"2d", 0, `"2d" is not a duration (hint: write 48h; the largest unit is h)`},
		{"soon", 0, `"soon" is not a duration (hint: write a number with a unit: 300ms, 5s, 1m30s or 2h)`},
		{"", 0, `"" is not a duration (hint: write a number with a unit: 300ms, 5s, 1m30s or 2h)`},
		{"5 s", 0, `"5 s" is not a duration (hint: write a number with a unit: 300ms, 5s, 1m30s or 2h)`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d := Duration(-1)
			err := d.parseScalar(tc.in)
			if got := problem(tc.in, err); got != tc.problem {
				t.Errorf("parseScalar(%q) problem = %q, want %q", tc.in, got, tc.problem)
			}
			if err == nil && d.D() != tc.want {
				t.Errorf("parseScalar(%q) = %v, want %v", tc.in, d.D(), tc.want)
			}
			if err != nil && d != -1 {
				t.Errorf("parseScalar(%q) failed but changed the value to %v", tc.in, d)
			}
		})
	}
}

func TestSizeParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Size
		problem string
	}{
		{"0", 0, ""},
		{"512", 512, ""},
		{"512B", 512, ""},
		{"10KB", 10_000, ""},
		{"64KiB", 64 << 10, ""},
		{"3MB", 3_000_000, ""},
		{"1MiB", 1 << 20, ""},
		{"2GB", 2_000_000_000, ""},
		{"1GiB", 1 << 30, ""},
		{"1TiB", 1 << 40, ""},
		{"8191PiB", 0, `"8191PiB" is not a size (hint: write a whole number of bytes with a unit: 512B, 64KiB, 10MB or 1GiB)`},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"9223372036854775808", 0, `"9223372036854775808" is too large (hint: the largest size is 8EiB)`},
		{"8388608TiB", 0, `"8388608TiB" is too large (hint: the largest size is 8EiB)`},
		{"64kib", 0, `"64kib" is not a size (hint: write 64KiB)`},
		{"64 KiB", 0, `"64 KiB" is not a size (hint: write 64KiB)`},
		{"10kb", 0, `"10kb" is not a size (hint: write 10KB)`},
		{"1.5MiB", 0, `"1.5MiB" is not a size (hint: write a whole number of bytes with a unit: 512B, 64KiB, 10MB or 1GiB)`},
		{"-1", 0, `"-1" is negative (hint: write 0 or a positive size)`},
		{"KiB", 0, `"KiB" is not a size (hint: write a whole number of bytes with a unit: 512B, 64KiB, 10MB or 1GiB)`},
		{"", 0, `"" is not a size (hint: write a whole number of bytes with a unit: 512B, 64KiB, 10MB or 1GiB)`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s := Size(-1)
			err := s.parseScalar(tc.in)
			if got := problem(tc.in, err); got != tc.problem {
				t.Errorf("parseScalar(%q) problem = %q, want %q", tc.in, got, tc.problem)
			}
			if err == nil && s != tc.want {
				t.Errorf("parseScalar(%q) = %d, want %d", tc.in, s, tc.want)
			}
			if err != nil && s != -1 {
				t.Errorf("parseScalar(%q) failed but changed the value to %d", tc.in, s)
			}
		})
	}
}

func TestSizeStringParses(t *testing.T) {
	for _, s := range []Size{0, 1, 512, 1 << 10, 1536, 64 << 10, 1 << 20, 3 << 30} {
		var back Size
		if err := back.parseScalar(s.String()); err != nil || back != s {
			t.Errorf("parseScalar(%q) = %d, %v, want %d", s.String(), back, err, s)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for _, tc := range []struct {
		in, want, problem string
	}{
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"127.0.0.1", "127.0.0.1/32", ""},
		{"::1", "::1/128", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"10.1.2.3/8", "", `"10.1.2.3/8" has bits set past its prefix length (hint: write 10.0.0.0/8)`},
		{"10.0.0.0/33", "", `"10.0.0.0/33" is not an IP address or prefix (hint: write a CIDR prefix like 10.0.0.0/8 or an address like 127.0.0.1)`},
		{"localhost", "", `"localhost" is not an IP address or prefix (hint: write a CIDR prefix like 10.0.0.0/8 or an address like 127.0.0.1)`},
		{"fe80::1%eth0", "", `"fe80::1%eth0" has an IPv6 zone (hint: remove %eth0)`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := parsePrefix(tc.in)
			if got := problem(tc.in, err); got != tc.problem {
				t.Errorf("parsePrefix(%q) problem = %q, want %q", tc.in, got, tc.problem)
			}
			if err == nil && p != netip.MustParsePrefix(tc.want) {
				t.Errorf("parsePrefix(%q) = %v, want %v", tc.in, p, tc.want)
			}
		})
	}
}
