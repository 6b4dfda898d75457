package serve

import (
	"errors"
	"testing"
)

// TestLoadTestLoopbackOnly: a load test refuses any target but this
// machine (no request is sent: the addresses are literals).
func TestLoadTestLoopbackOnly(t *testing.T) {
	for _, tt := range []struct {
		server string
		ok     bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://[::1]:8080", true},
		{"http://10.0.0.1:8080", false},
		{"https://192.168.1.2", false},
		{"http://8.8.8.8:80", false},
	} {
		if err := checkLoopback(tt.server); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrNotLoopback)) {
			t.Errorf("%s: %v", tt.server, err)
		}
	}
}
