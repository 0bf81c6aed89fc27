#!/usr/bin/env bash
# Regenerates the Go code for proto/ with the protoc plugins pinned in go.mod.
# Needs protoc (Debian: apt-get install -y protobuf-compiler).
# Usage: scripts/genproto.sh [OUTPUT_DIR]   (default: the repository itself)
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # README: the patched toolchain
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cd "$root"
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
PATH="$bin:$PATH" protoc -I proto \
  --go_out="$out" --go_opt=module=github.com/helpdesk-duo/duo-plugin \
  --go-grpc_out="$out" --go-grpc_opt=module=github.com/helpdesk-duo/duo-plugin \
  proto/duo/v1/duo.proto
