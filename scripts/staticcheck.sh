#!/usr/bin/env bash
# staticcheck (honnef.co/go/tools), pinned, with its default checks, on
# every package and its tests. The go command fetches it from the module
# proxy once and keeps it in the build cache.
# Usage: scripts/staticcheck.sh [PACKAGES]   (default ./...)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
go vet "${@:-./...}"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 "${@:-./...}"
