#!/usr/bin/env bash
# Builds grpcx and the stub client, then times them with bench/runner.
# Flags go to the runner: bash bench/run.sh -rounds 3 -cases unary,bidi-100k
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# Built here rather than with go run, so compile time is never measured.
go build -o "$bin/grpcx" .
go build -o "$bin/stubclient" ./bench/stubclient
go run ./bench/runner -grpcx "$bin/grpcx" -stub "$bin/stubclient" "$@"
