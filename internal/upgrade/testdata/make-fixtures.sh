#!/usr/bin/env bash
# Remakes the upgrade fixtures: databases written by the plugin binaries of
# earlier releases, through those releases' own SDK and simulator.
#   schema1/  commit 88d2830, the last with only migrations/00001_initial.sql
#   schema3/  commit d778b68, the first with codes (00003_recovery.sql)
# For each, the release's tree is exported (git archive) to a temporary
# directory, make/fixture_<name>_test.go is copied into its
# internal/integration and run there; it writes duo.db, secrets.key and
# expected.json into the fixture's directory. Run from anywhere in the
# repository; needs only git and Go.
set -euo pipefail
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # README: the patched toolchain
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_fixture() { # name commit
  local name=$1 commit=$2
  mkdir -p "$tmp/$name"
  git -C "$root" archive "$commit" | tar -x -C "$tmp/$name"
  cp "$here/make/fixture_${name}_test.go" "$tmp/$name/internal/integration/"
  rm -rf "$here/$name"
  (cd "$tmp/$name" && FIXTURE_OUT="$here/$name" go test -count=1 -run '^TestMakeUpgradeFixture$' ./internal/integration)
}
make_fixture schema1 88d2830
make_fixture schema3 d778b68
