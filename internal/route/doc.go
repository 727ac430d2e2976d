// Package route owns the compiled route table: which route a request belongs
// to. Build turns the routes of a validated config into an immutable Table,
// rejecting every pair of routes that no request could tell apart; Lookup
// picks the route for one request.
//
// The table is shaped for the request path. Lookup runs once per request
// with no locks and no allocations: routes are grouped first by priority,
// then by host (a map of exact hosts, a slice of wildcard suffixes ordered
// longest first, and one bucket for routes without a host), and inside each
// host bucket exact paths sit in a map while regular expressions, prefixes
// and path-less routes sit in one slice already sorted by precedence. So the
// first route whose predicates all hold is the answer, and all the ordering
// work happens once, in Build. The query string and the Cookie header are
// scanned in place rather than parsed into maps, because a map per request
// would cost more than the whole lookup.
//
// The precedence rules, the matching rules for each predicate and the
// conflict rules are documented for users in docs/routing.md; the code and
// that page must agree.
//
// It imports no other internal package: the snapshot package translates
// config routes into Specs.
package route
