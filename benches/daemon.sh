#!/usr/bin/env bash
# Benchmark: the daemon managing N certificates (default 100) against the local stack:
# wall time of the first round (N orders), idle RSS afterwards, and the order duration
# histogram from its own metrics.
#
#   benches/daemon.sh [N]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
n=${1:-100}
scripts/stack install >/dev/null
cargo build --release --locked --quiet
bin="$repo/target/release/wildcert"
dir=$(mktemp -d /tmp/wildcert-bench-daemon.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; scripts/stack down "$dir/stack" >/dev/null 2>&1; rm -rf "$dir"' EXIT
STACK_S3=0 scripts/stack up "$dir/stack" >/dev/null
config="$dir/wildcert.toml"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The stack's config with its certificate replaced by N of them.
sed -e '/^\[\[certificate\]\]/,$d' -e '/^region\|^prefix\|^path_style\|^access_key_id\|^secret_access_key_file/d' \
  "$dir/stack/wildcert.toml" >"$config"
for i in $(seq -w 1 "$n"); do
  printf '\n[[certificate]]\nname = "c%s"\ndomains = ["*.c%s.gradient.example.com", "c%s.gradient.example.com"]\n' "$i" "$i" "$i" >>"$config"
done
printf '\n[daemon]\nmetrics_listen = "127.0.0.1:%s"\ncheck_interval = "1h"\nmax_concurrent_orders = 4\n' "$port" >>"$config"

start=$(date +%s.%N)
"$bin" -q --config "$config" run 2>"$dir/daemon.log" &
pid=$!
until curl -sf "127.0.0.1:$port/metrics" | grep -q "^wildcert_order_duration_seconds_count $n\$"; do
  kill -0 "$pid" || { cat "$dir/daemon.log"; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
sleep 2
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
metrics=$(curl -sf "127.0.0.1:$port/metrics")
sum=$(echo "$metrics" | awk '/^wildcert_order_duration_seconds_sum/ {print $2}')
echo "daemon with $n certificates (wildcard + apex each), Pebble + BIND on loopback, $(nproc) cores"
printf 'first round (%d orders, 4 at a time): %.2f s wall; mean order %.3f s\n' "$n" "$(echo "$end - $start" | bc -l)" "$(echo "$sum / $n" | bc -l)"
printf 'idle RSS after the round: %.1f MB (peak %.1f MB)\n' "$(echo "$rss/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)"
