#!/usr/bin/env bash
# Builds grpcx and the stub load generator, then compares `grpcx bench` with
# it on the bundled test server (bench/runner -load). Flags go to the runner:
# bash bench/load.sh -rounds 3 -load-large-n 0
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/grpcx" .
go build -o "$bin/stubload" ./bench/stubload
go run ./bench/runner -load -grpcx "$bin/grpcx" -stubload "$bin/stubload" "$@"
