#!/usr/bin/env bash
# Measures the README's main command as a new user meets it: the time from
# `go run ./helpdesk/cmd/helpdesk demo` to the first answer on its port and
# to the sign-in page, with an empty build cache (cold) and again with the
# cache that run left (warm), beside `go build ./...` on an empty cache (the
# floor). The module cache is left as it is: downloading is the network's
# time, not ours. Usage: scripts/firstrun.sh [ROUNDS]   (default 1)
# HELPDESK_CMD names the command's package (default ./helpdesk/cmd/helpdesk),
# to measure an older tree the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3} # README: the patched toolchain
rounds=${1:-1}
port=18080
cmd=${HELPDESK_CMD:-./helpdesk/cmd/helpdesk}

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }

wait_for() { # URL, want ("any" or "200"), start time → seconds
	local url=$1 want=$2 start=$3 code
	while true; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
		if [ "$want" = any ] && [ "$code" != 000 ]; then elapsed "$start"; return; fi
		if [ "$code" = "$want" ]; then elapsed "$start"; return; fi
		sleep 0.1
	done
}

demo_run() { # GOCACHE → "port_s login_s"
	local cache=$1 data pid start a b
	data=$(mktemp -d)
	start=$(now)
	GOCACHE=$cache go run "$cmd" demo -addr 127.0.0.1:$port -duo-addr 127.0.0.1:0 -data-dir "$data" >/dev/null 2>&1 &
	pid=$!
	a=$(wait_for "http://127.0.0.1:$port/login" any "$start")
	b=$(wait_for "http://127.0.0.1:$port/login" 200 "$start")
	pkill -INT -P "$pid" 2>/dev/null || true
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$data"
	echo "$a $b"
}

for r in $(seq 1 "$rounds"); do
	cold=$(mktemp -d)
	start=$(now)
	GOCACHE=$cold go build ./... >/dev/null
	build=$(elapsed "$start")
	rm -rf "$cold"

	cold=$(mktemp -d)
	read -r cport clogin < <(demo_run "$cold")
	read -r wport wlogin < <(demo_run "$cold")
	rm -rf "$cold"
	printf 'round %d: go build ./... cold %.1fs | demo cold: port %.1fs, sign-in page %.1fs (%.2fx the build) | demo warm: port %.1fs, sign-in page %.1fs\n' \
		"$r" "$build" "$cport" "$clogin" "$(echo "$clogin / $build" | bc -l)" "$wport" "$wlogin"
done
