package config

import "strings"

// oneOfHint returns a hint listing the valid choices for a misspelt
// word, led by the closest one when it is close enough to be a likely typo:
// "did you mean address? valid keys: name, address, timeouts".
func oneOfHint(got, what string, valid []string) string {
	list := what + ": " + strings.Join(valid, ", ")
	if s := closest(got, valid); s != "" {
		return "did you mean " + s + "? " + list
	}
	return list
}

// closest returns the candidate nearest to word by edit distance, or "" when
// none is near enough to be a typo of it. A case-only difference always
// counts as near.
func closest(word string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		if strings.EqualFold(word, c) {
			return c
		}
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// About one edit in three letters: "levle" finds levels, "id" finds
	// nothing.
	limit := max(1, (len(word)+1)/3)
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and transpositions of adjacent bytes
// each cost one, so "nmae" is one edit from "name".
func editDistance(a, b string) int {
	// Three rows suffice: the transposition step looks two rows back.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
