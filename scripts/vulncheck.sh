#!/usr/bin/env bash
# govulncheck offline: CI machines cannot reach vuln.go.dev, but the Go
# module proxy serves golang.org/x/vulndb, whose data/osv files, indexed
# with its own cmd/indexdb, are a database govulncheck reads from disk.
# The index is kept in the user's cache, one per vulndb version.
# Usage: scripts/vulncheck.sh [PACKAGES]   (default ./...)
# Fails (exit 3) when the code reaches a known vulnerability, the standard
# library's included: the toolchain matters (GOTOOLCHAIN, see README).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
vulndb=golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018
govulncheck=golang.org/x/vuln/cmd/govulncheck@v1.9.0

cache=${XDG_CACHE_HOME:-$HOME/.cache}/duo-plugin/vulndb-${vulndb##*@}
if [ ! -f "$cache/index/db.json" ]; then
	src=$(GOFLAGS=-mod=mod go mod download -json "$vulndb" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	echo "vulncheck: indexing $(ls "$src/data/osv" | wc -l) OSV entries of $vulndb"
	rm -rf "$cache.tmp"
	(cd "$src" && GOFLAGS=-mod=mod go run ./cmd/indexdb -vulns data/osv -out "$cache.tmp")
	rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
go run "$govulncheck" -db "file://$cache" "${@:-./...}"
