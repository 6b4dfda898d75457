//go:build !linux && !darwin

package main

// maxRSS cannot tell the peak memory on this system.
func maxRSS() int64 { return 0 }
