// Command grpcx explores and calls gRPC servers without generated stubs.
package main

import (
	"context"
	"os"

	"github.com/grpcx/grpcx/cmd"
)

func main() {
	os.Exit(cmd.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
