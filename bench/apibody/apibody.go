// Package apibody makes the JSON bodies the compression benchmarks use: a
// paginated list of user records whose fields repeat much as in a typical
// API ("api"), or with random identifiers, timestamps and amounts
// ("varied"). The benchmark in bench/compress_test.go and bench/backend's
// /json path serve the same bytes, so that the middleware alone and the
// whole proxy beside nginx (bench/compare compress) are measured on one
// body.
package apibody

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

type address struct {
	Street  string `json:"street"`
	City    string `json:"city"`
	State   string `json:"state"`
	Zip     string `json:"zip"`
	Country string `json:"country"`
}

type stats struct {
	Logins    int    `json:"logins"`
	LastLogin string `json:"last_login"`
	Plan      string `json:"plan"`
}

type user struct {
	ID        int      `json:"id"`
	UUID      string   `json:"uuid"`
	Name      string   `json:"name"`
	Email     string   `json:"email"`
	Active    bool     `json:"active"`
	Role      string   `json:"role"`
	CreatedAt string   `json:"created_at"`
	Balance   float64  `json:"balance"`
	Address   address  `json:"address"`
	Tags      []string `json:"tags"`
	Stats     stats    `json:"stats"`
}

// JSON returns a JSON array of user records of at most size bytes, the
// same on every call. varied draws identifiers, timestamps and amounts at
// random instead of from small sets.
func JSON(size int, varied bool) []byte {
	first := []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth"}
	last := []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez"}
	cities := []struct{ city, state, zip string }{
		{"Springfield", "IL", "62704"}, {"Portland", "OR", "97201"}, {"Austin", "TX", "73301"},
		{"Denver", "CO", "80202"}, {"Madison", "WI", "53703"},
	}
	streets := []string{"Maple Street", "Oak Avenue", "Pine Road", "Cedar Lane", "Main Street"}
	roles := []string{"admin", "editor", "viewer", "viewer", "viewer", "viewer"}
	tags := []string{"premium", "beta", "newsletter", "verified"}
	plans := []string{"free", "free", "pro", "team"}

	r := rand.New(rand.NewPCG(1, 2))
	out := []byte{'['}
	for id := 1; ; id++ {
		f, l := first[r.IntN(len(first))], last[r.IntN(len(last))]
		c := cities[r.IntN(len(cities))]
		u := user{
			ID:        100000 + id,
			UUID:      fmt.Sprintf("usr_%06d", 100000+id),
			Name:      f + " " + l,
			Email:     strings.ToLower(f + "." + l + "@example.com"),
			Active:    r.IntN(5) != 0,
			Role:      roles[r.IntN(len(roles))],
			CreatedAt: fmt.Sprintf("2024-%02d-%02dT00:00:00Z", 1+id/28%12, 1+id%28),
			Balance:   float64(r.IntN(4) * 250),
			Address: address{
				Street: fmt.Sprintf("%d %s", 1+r.IntN(4)*100, streets[r.IntN(len(streets))]),
				City:   c.city, State: c.state, Zip: c.zip, Country: "US",
			},
			Tags: []string{},
			Stats: stats{
				Logins:    r.IntN(10) * 10,
				LastLogin: fmt.Sprintf("2025-06-%02dT12:00:00Z", 1+r.IntN(4)*7),
				Plan:      plans[r.IntN(len(plans))],
			},
		}
		for i := r.IntN(3); i > 0; i-- {
			u.Tags = append(u.Tags, tags[r.IntN(len(tags))])
		}
		if varied {
			u.UUID = fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff,
				r.Uint32()&0xfff, 0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
			u.Email = fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(f), strings.ToLower(l), r.IntN(100))
			u.CreatedAt = fmt.Sprintf("20%02d-%02d-%02dT%02d:%02d:%02dZ", 18+r.IntN(7), 1+r.IntN(12), 1+r.IntN(28),
				r.IntN(24), r.IntN(60), r.IntN(60))
			u.Balance = float64(r.IntN(1000000)) / 100
			u.Address.Street = fmt.Sprintf("%d %s", 1+r.IntN(9999), streets[r.IntN(len(streets))])
			u.Stats.Logins = r.IntN(5000)
			u.Stats.LastLogin = fmt.Sprintf("2025-%02d-%02dT%02d:%02d:%02dZ", 1+r.IntN(12), 1+r.IntN(28),
				r.IntN(24), r.IntN(60), r.IntN(60))
		}
		rec, err := json.Marshal(u)
		if err != nil {
			panic(err)
		}
		if len(out)+len(rec)+2 > size {
			break
		}
		if id > 1 {
			out = append(out, ',')
		}
		out = append(out, rec...)
	}
	return append(out, ']')
}
