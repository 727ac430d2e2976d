// Package provider holds the sources of config. Every source ends in the
// same ApplyFunc (the gateway's Apply), so a file edit and a SIGHUP (and,
// when they come, the admin API and etcd) are one code path. A provider
// coalesces bursts: while an apply is running, further triggers collapse
// into one, and the latest content wins.
package provider
