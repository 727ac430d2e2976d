// Package lifecycle keeps the state that must outlive a config reload:
// connection pools, balancer positions, health checkers, access logs, and
// later cache zones, limiter stores and certificates. Each kind is a Set
// keyed by stable identity (an upstream name, an upstream and address, a
// zone). A reload is a Txn: the build takes what it needs from each Set,
// reusing the live value of a key or creating a pending one; the swap
// commits the Txn, which makes the taken values the live ones and releases
// the values no longer taken; a failed build aborts it, which releases only
// what it created. So a value lives exactly as long as some committed
// config references it, and every kind of state follows one rule instead
// of a hand-written abort and release loop each.
package lifecycle
