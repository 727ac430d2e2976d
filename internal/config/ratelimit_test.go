package config

import (
	"strings"
	"testing"
	"time"
)

func TestRateParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Rate
		problem string
	}{
		{"100/s", Rate{100, time.Second}, ""},
		{"6000/m", Rate{6000, time.Minute}, ""},
		{"10/h", Rate{10, time.Hour}, ""},
		{"1000000000/s", Rate{1e9, time.Second}, ""},
		{"100", Rate{}, `"100" is not a rate (hint: write 100/s)`},
		{"100/sec", Rate{}, `"100/sec" is not a rate (hint: write 100/s)`},
		{"5/minute", Rate{}, `"5/minute" is not a rate (hint: write 5/m)`},
		{"0/s", Rate{}, `"0/s" is not a positive rate (hint: write a count per second, minute or hour: 100/s, 6000/m or 10/h)`},
		{"-1/s", Rate{}, `"-1/s" is not a positive rate (hint: write a count per second, minute or hour: 100/s, 6000/m or 10/h)`},
		{"1.5/s", Rate{}, `"1.5/s" is not a rate (hint: write a count per second, minute or hour: 100/s, 6000/m or 10/h)`},
		{"5/d", Rate{}, `"5/d" is not a rate (hint: write a count per second, minute or hour: 100/s, 6000/m or 10/h)`},
		{"2000000000/s", Rate{}, `"2000000000/s" is too large (hint: the largest rate is 1000000000/s)`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var r Rate
			err := r.parseScalar(tc.in)
			if got := problem(tc.in, err); got != tc.problem {
				t.Fatalf("parseScalar(%q) = %q, want %q", tc.in, got, tc.problem)
			}
			if r != tc.want {
				t.Errorf("parseScalar(%q) set %+v, want %+v", tc.in, r, tc.want)
			}
			if err == nil && r.String() != tc.in {
				t.Errorf("Rate.String() = %q, want %q", r.String(), tc.in)
			}
		})
	}
}

func TestRateLimitDefaults(t *testing.T) {
	cfg, err := Parse("t.yaml", []byte(`
listeners: [{name: web, address: 127.0.0.1:8080}]
upstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]
ratelimit_zones: [{name: shared, store: redis, redis: {address: 127.0.0.1:6379}}]
routes: [{name: a, upstream: api, middlewares: [{kind: ratelimit, rate: 50/m, zone: shared}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.Routes[0].Middlewares[0].RateLimit
	if rl == nil {
		t.Fatal("no RateLimit body")
	}
	if rl.Rate != (Rate{50, time.Minute}) || rl.EffectiveBurst() != 50 || rl.Status != 429 || rl.Headers != "denied" || len(rl.Key) != 1 || rl.Key[0] != "client_ip" {
		t.Errorf("defaults = %+v (burst %d)", *rl, rl.EffectiveBurst())
	}
	z := cfg.RateLimitZones[0]
	if z.OnFailure != "local" || z.MaxKeys != RateLimitDefaultMaxKeys || z.Redis.Timeout.D() != 50*time.Millisecond || z.Redis.KeyPrefix != "palisade:rl:" {
		t.Errorf("zone defaults = %+v, redis %+v", z, *z.Redis)
	}
}

func TestRateLimitProblems(t *testing.T) {
	const base = "listeners: [{name: web, address: 127.0.0.1:8080}]\nupstreams: [{name: api, backends: [{address: 127.0.0.1:9001}]}]\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"missing rate", "routes: [{name: a, upstream: api, middlewares: [{kind: ratelimit}]}]\n",
			"routes[0].middlewares[0].rate: missing"},
		{"bad key part", "routes: [{name: a, upstream: api, middlewares: [{kind: ratelimit, rate: 1/s, key: [client_ip, ip]}]}]\n",
			`routes[0].middlewares[0].key[1]: unknown key part "ip"`},
		{"bad headers", "routes: [{name: a, upstream: api, middlewares: [{kind: ratelimit, rate: 1/s, headers: sometimes}]}]\n",
			`routes[0].middlewares[0].headers: unknown value "sometimes"`},
		{"unknown zone", "routes: [{name: a, upstream: api, middlewares: [{kind: ratelimit, rate: 1/s, zone: api}]}]\n",
			`routes[0].middlewares[0].zone: unknown rate-limit zone "api"`},
		{"redis without settings", "ratelimit_zones: [{name: z, store: redis}]\nroutes: [{name: a, upstream: api}]\n",
			"ratelimit_zones[0].redis: missing"},
		{"bad policy", "ratelimit_zones: [{name: z, on_failure: fail}]\nroutes: [{name: a, upstream: api}]\n",
			`ratelimit_zones[0].on_failure: unknown policy "fail"`},
		{"negative burst", "routes: [{name: a, upstream: api, middlewares: [{kind: ratelimit, rate: 1/s, burst: -1}]}]\n",
			"routes[0].middlewares[0].burst: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(base+tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v, want a problem containing %q", err, tc.want)
			}
		})
	}
}
