package cmd

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the tests' descriptor cache out of the user's: a test
// that calls a server writes an entry for its address, and a later test
// whose server gets the same port would find it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "grpcx-cmd-test-cache")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
