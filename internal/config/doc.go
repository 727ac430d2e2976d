// Package config is the schema of palisade.yaml and the only code that reads
// YAML. Load decodes one document into typed structs, remembering the source
// position of every value, rejects unknown keys, applies defaults and
// validates the whole document, returning every problem at once as
// Diagnostics ("file:line:col: path: what is wrong (hint: how to fix)").
// It also resolves every file path in the document against the config
// file's directory, in one place (paths.go), so that no other package
// interprets a relative path.
//
// Config is data: nothing here opens a socket or builds runtime state; the
// snapshot package compiles a validated Config. It imports no other internal
// package.
package config
