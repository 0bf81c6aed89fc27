#!/usr/bin/env bash
# Runs every native Go fuzz target in the repository for FUZZTIME each
# (default 10s), one after another (go test -fuzz takes one target at a
# time), beyond its seed corpus (the seeds also run with the ordinary
# tests). Targets are found, not listed: a new func FuzzXxx(f *testing.F)
# in a _test.go file is fuzzed without editing this script
# (internal/cicheck checks the discovery against the Go parser).
# Stops at the first failure, which go test saves under the package's
# testdata/fuzz/.
# Usage: scripts/fuzz.sh [fuzztime]   or   FUZZTIME=5s scripts/fuzz.sh
#        scripts/fuzz.sh -l           lists "package target" and exits
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}

targets() {
  grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . |
    sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u
}

if [ "${1:-}" = "-l" ]; then
  targets
  exit 0
fi

fuzztime="${1:-${FUZZTIME:-10s}}"
n=0
while read -r pkg target; do
  echo "fuzz: $target in $pkg for $fuzztime"
  go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg"  </dev/null
  n=$((n + 1))
done < <(targets)
echo "fuzz: $n targets, none failed"
