#!/usr/bin/env bash
# Benchmark: one wildcard + apex issuance against the local stack (Pebble + BIND), wall time
# and peak RSS, median of N runs, wildcert beside lego (and certbot when installed) in the
# same run on the same stack.
#
#   benches/issue.sh [RUNS]        (default 5; needs root for the package installs)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
runs=${1:-5}

scripts/stack install >/dev/null
command -v lego >/dev/null || apt-get install -y -qq lego >/dev/null
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
cargo build --release --locked --quiet
bin="$repo/target/release/wildcert"

dir=$(mktemp -d /tmp/wildcert-bench.XXXXXX)
trap 'scripts/stack down "$dir/stack" >/dev/null 2>&1; rm -rf "$dir"' EXIT
STACK_S3=0 STACK_DIRECT_DNS=1 scripts/stack up "$dir/stack" >/dev/null
# shellcheck disable=SC1091
source "$dir/stack/stack.env"
sed -i '/^region\|^prefix\|^path_style\|^access_key_id\|^secret_access_key_file/d' "$dir/stack/wildcert.toml"

# Prints "wall_seconds peak_rss_kib" of one run of the given command (GNU time: the
# child's own peak, not the shell's).
measure() {
  local out
  out=$(mktemp)
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>&1 || { echo "run failed: $*" >&2; rm -f "$out"; exit 1; }
  tail -1 "$out"
  rm -f "$out"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

report() { # name, file of "wall rss" lines
  local wall rss fastest slowest
  wall=$(cut -d' ' -f1 "$2" | median)
  rss=$(cut -d' ' -f2 "$2" | median)
  fastest=$(cut -d' ' -f1 "$2" | sort -n | head -1)
  slowest=$(cut -d' ' -f1 "$2" | sort -n | tail -1)
  printf '%-10s median of %d: %6.3f s wall (%.3f..%.3f), %6.1f MB peak RSS\n' \
    "$1" "$runs" "$wall" "$fastest" "$slowest" "$(echo "$rss/1024" | bc -l)"
}

# Warm-up: register the accounts so every measured run is one order.
"$bin" -q --config "$dir/stack/wildcert.toml" issue --force >/dev/null
for _ in $(seq "$runs"); do
  measure "$bin" -q --config "$dir/stack/wildcert.toml" issue --force
done >"$dir/wildcert.txt"

export LEGO_CA_CERTIFICATES="$PEBBLE_TLS_CA" RFC2136_NAMESERVER="$DNS_SERVER" RFC2136_TSIG_KEY="$TSIG_KEY" \
  RFC2136_TSIG_ALGORITHM=hmac-sha256. RFC2136_TSIG_SECRET="$(cat "$TSIG_SECRET_FILE")" \
  RFC2136_POLLING_INTERVAL=1 RFC2136_SEQUENCE_INTERVAL=0
lego_cmd=(lego --server "$ACME_DIRECTORY" --accept-tos --email admin@gradient.example.com --path "$dir/lego"
  --dns rfc2136 --dns.disable-cp --dns.resolvers "$DNS_SERVER"
  -d '*.gradient.example.com' -d gradient.example.com run)
"${lego_cmd[@]}" >/dev/null 2>&1
for _ in $(seq "$runs"); do measure "${lego_cmd[@]}"; done >"$dir/lego.txt"

echo "one wildcard + apex issuance, Pebble + BIND on loopback, $(nproc) cores"
report wildcert "$dir/wildcert.txt"
report lego "$dir/lego.txt"
