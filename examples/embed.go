// Package examples embeds the example configs, so `palisade demo` runs one
// without a checkout and tests can check that every example validates.
package examples

import "embed"

// FS holds every *.yaml file in this directory.
//
//go:embed *.yaml
var FS embed.FS
