#!/usr/bin/env bash
# Throughput and peak memory of the sealdrop CLI against a local sealdrop-server (release
# builds): one upload and one download of a random file, checked byte for byte.
#
# Usage: tests/throughput.sh [SIZE_MIB]      (default 1024, i.e. 1 GiB)
# Needs GNU time (/usr/bin/time, Debian package `time`) and about 3 × SIZE of free space
# under ${TMPDIR:-/tmp}. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
target=${CARGO_TARGET_DIR:-target}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

cargo build --release --locked -p sealdrop -p sealdrop-server
bin="$target/release"
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/sealdrop-server" --listen "127.0.0.1:$port" --data-dir "$work/data" \
  --max-file-size "$((size_mib + 1))MiB" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/file"
export SEALDROP_HOST="http://127.0.0.1:$port" SEALDROP_HISTORY="$work/history.json"
/usr/bin/time -f '%e %M' -o "$work/up" "$bin/sealdrop" upload -q "$work/file" >"$work/link"
/usr/bin/time -f '%e %M' -o "$work/down" "$bin/sealdrop" download -q "$(cat "$work/link")" -o "$work/copy"
cmp "$work/file" "$work/copy"

report() {
  read -r secs kib <"$work/$1"
  awk -v what="$2" -v mib="$size_mib" -v s="$secs" -v k="$kib" \
    'BEGIN { printf "%-8s %6d MiB in %6.2f s = %7.1f MiB/s, peak RSS %5.1f MiB\n", what, mib, s, mib / s, k / 1024 }'
}
report up upload
report down download
