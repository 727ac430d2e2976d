package config

import "path/filepath"

// File paths. Every key whose value names a file is resolved here, once,
// when the document is loaded, and nowhere else: the rest of the program
// opens the path it is given, and a diagnostic about the file shows the
// path that was tried. A relative path is relative to the directory of
// the config file, as nginx resolves one against its configuration
// prefix, so a config means the same files wherever the process was
// started. A document that is not read from a file (palisade proxy's
// quick mode, the embedded demo) has no such directory; its relative
// paths stay relative to the working directory.
//
// A new key that names a file is added to resolvePaths, and its docs say
// "relative to the config file" by linking to docs/config.md#file-paths.

// resolvePaths resolves every file path in c against c.Dir: the access
// log file, the certificate and key files of every TLS listener, and the
// htpasswd and key files of auth middlewares.
func (c *Config) resolvePaths() {
	if c.Dir == "" {
		return
	}
	if c.AccessLog.IsFile() {
		c.AccessLog.Output = c.resolvePath(c.AccessLog.Output)
	}
	for i := range c.Listeners {
		t := c.Listeners[i].TLS
		if t == nil {
			continue
		}
		for j := range t.Certificates {
			cert := &t.Certificates[j]
			cert.CertFile = c.resolvePath(cert.CertFile)
			cert.KeyFile = c.resolvePath(cert.KeyFile)
		}
	}
	for i := range c.Routes {
		for _, m := range c.Routes[i].Middlewares {
			if m.Auth == nil {
				continue
			}
			if b := m.Auth.Basic; b != nil {
				b.HtpasswdFile = c.resolvePath(b.HtpasswdFile)
			}
			if j := m.Auth.JWT; j != nil {
				for k := range j.Keys {
					j.Keys[k].File = c.resolvePath(j.Keys[k].File)
				}
			}
		}
	}
}

// resolvePath returns p joined to c.Dir, or p itself when it is absolute
// or empty.
func (c *Config) resolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// configDir returns the directory relative paths in the config file at
// path are resolved against: absolute, so that diagnostics name files
// unambiguously and a later change of working directory cannot move them.
func configDir(path string) string {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// IsFile reports whether Output names a file rather than a stream or off.
func (a AccessLog) IsFile() bool {
	switch a.Output {
	case "", "stdout", "stderr", "off":
		return false
	}
	return true
}
