// Package upstream owns backends and their live state. A Backend's state
// (health, requests in flight, latency) is kept in atomics so the request
// path reads it without locks, and the Registry hands out the same Backend
// for the same upstream name and address across config reloads, so that
// state survives them. Balancing policies (package lb) and health probes
// (package health) read and write this state; upstream imports no other
// internal package.
package upstream
