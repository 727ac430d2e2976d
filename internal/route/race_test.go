//go:build race

package route

// raceEnabled reports whether the race detector is on: under it sync.Pool
// drops items at random, so regexp's pooled matchers allocate.
const raceEnabled = true
