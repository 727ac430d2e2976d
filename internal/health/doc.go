// Package health owns active health checks: probes that ask every backend
// of an upstream, on a schedule of their own and never on the request
// path, whether it can serve, and write the answer into the backend with
// upstream.Backend.SetHealthy, where the request path reads it with one
// atomic load.
//
// # Probes
//
// A Probe checks one backend once and returns nil or an error whose text
// is the reason logged: "status 503", "connect: connection refused",
// "timeout after 2s", `body does not contain "ok"`, "grpc status
// NOT_SERVING". Reasons are short and leave out addresses and Go's call
// chain, because the log line already names the upstream and the backend.
// Three kinds are built in, chosen by the check's type:
//
//   - HTTPProbe sends one HTTP/1.1 request on a connection of its own and
//     closes it after the response (Connection: close, a transport without
//     keep-alive, proxy or compression). A pooled connection would keep a
//     probe passing against a backend that no longer accepts new ones,
//     and sharing the request path's transport would let probes and
//     requests disturb each other. It calls RoundTrip, so a redirect is
//     judged as a status, never followed; expect_body looks at the first
//     64 KiB only.
//   - TCPProbe opens a connection and closes it.
//   - GRPCProbe calls grpc.health.v1.Health/Check on a client connection
//     of its own per probe, as Kubernetes' gRPC probe does: SERVING
//     passes, any other answer fails with its name.
//
// Each bounds itself by the check's timeout and probes the check's port,
// when it has one, on the backend's host. ProbeFunc adapts any function,
// for a check the built-in kinds do not cover.
//
// # Checker
//
// A Checker runs one upstream's check: a goroutine per backend, primaries
// and backups alike (a backup must be known healthy before it is needed),
// plus one watcher. A goroutine per backend keeps a backend that times out
// from delaying the probes of the others, and an upstream has few
// backends; each goroutine holds one timer and a small state between
// probes.
//
// Probes are jittered so that instances of Palisade started together, or
// the backends of one upstream, do not probe in step: the first probe of a
// backend comes after a random share of the interval, and each next one
// starts interval ± jitter after the previous one started. Each goroutine
// draws from its own generator (math/rand/v2's PCG, seeded from the
// runtime's source), so probers share no state.
//
// Verdicts have hysteresis: an up backend goes down after fall failing
// probes in a row, a down one comes up after rise passing ones; a result
// that agrees with the held verdict resets the count. The held verdict
// starts from, and keeps following, the backend's own health, so a
// backend kept across a reload, or marked down by an earlier checker of
// the same upstream, keeps its verdict and its count starts afresh. On a
// transition the Checker calls SetHealthy and logs one line, "backend up"
// (Info) or "backend down" (Warn), with upstream, backend and reason, and
// only when SetHealthy reports a change, so a transition is logged once
// even when two checkers overlap during a reload.
//
// The watcher follows the pool's membership through upstream.Pool.Watch:
// it starts a prober for each new backend and cancels those of removed
// ones, never touching the others, so their schedules and counts go on.
// Watch fires on every health change too, far more often than membership
// changes; a pool replaces its member slices on each commit and never
// modifies them, so the watcher tells "nothing changed" by comparing the
// slices' identity and does no other work.
//
// Stop cancels every probe, drops the verdict of one in flight, and waits
// for the goroutines; backends keep the health last written.
//
// # Active and passive health
//
// Passive health (package upstream) ejects a backend that fails real
// requests, for a time that grows with each ejection in a row. The two
// meet in the backend's state: an ejection ending on its own does not
// bring back a backend the active check holds down, and a backend the
// active check brings up is no longer ejected either. A backend down by
// both therefore comes back only when the active check says so.
package health
