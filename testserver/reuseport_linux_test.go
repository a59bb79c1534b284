package testserver_test

import (
	"strings"
	"testing"

	"github.com/grpcx/grpcx/testserver"
)

// TestReservePortHoldsThePort: a second reservation of a reserved port
// fails, as a second plain server on it would; SO_REUSEPORT alone would
// let both share it, and calls go to either.
func TestReservePortHoldsThePort(t *testing.T) {
	first, err := testserver.ReservePort("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := testserver.ReservePort(first.Addr())
	if err == nil {
		second.Close()
		t.Fatalf("a second reservation of %s succeeded", first.Addr())
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second reservation: %v, want address already in use", err)
	}
}
