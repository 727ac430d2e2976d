// Package lb holds the balancing policies. A Policy picks one backend from a
// pool given a key the caller computed (client IP, header, cookie or SNI
// hash), so layer 4 and layer 7 share every policy. Policies read backend
// state through atomics and never block.
package lb
