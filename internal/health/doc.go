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
package health
