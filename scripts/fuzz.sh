#!/usr/bin/env bash
# Runs every native Go fuzz target for FUZZTIME each (default 10s), one
# after another (go test -fuzz takes one target at a time). Stops at the
# first failure, which go test saves under the package's testdata/fuzz/.
# Usage: scripts/fuzz.sh [fuzztime]   or   FUZZTIME=5s scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-${FUZZTIME:-10s}}"

run() { # package target
  echo "fuzz: $2 in $1 for $fuzztime"
  go test -run '^$' -fuzz "^$2\$" -fuzztime "$fuzztime" "$1"
}

run ./helpdesk/web       FuzzDuoCallbackQuery
run ./helpdesk/auth      FuzzSafeNext
run ./plugin/duo         FuzzExchangeIDToken
run ./plugin/codes       FuzzParse
run ./plugin/codes       FuzzCodeRoundTrip
run ./plugin/codes       FuzzParseToken
run ./host               FuzzManifest
run ./plugin/duousername FuzzCanonical
run ./plugin/duousername FuzzCanonicalCollisions
