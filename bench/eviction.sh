#!/usr/bin/env bash
# eviction.sh -- memory held under maxmemory, per eviction policy.
#
# For each maxmemory-policy, starts a fresh cinnabar with `maxmemory $MAXMEMORY`
# (default 100mb) and writes about $TOTAL (default 1000000) SETs of 1000-byte values
# (~1 GB) to distinct keys, every other one with a TTL (EX 100000), through
# `redis-cli --pipe`. Then prints, per policy: peak RSS (VmHWM) and final RSS against
# the budget, used_memory, evicted_keys, keys left, how many writes were refused with
# OOM (INFO errorstats) and how many error replies the writer saw. Expected:
# allkeys-* stay near the budget with no OOM; volatile-* evict the TTL keys and answer
# OOM once only keys without TTL are left; noeviction answers OOM past the budget.
#
# Environment: CINNABAR_BIN (default target/release/cinnabar, built with
# `cargo build --release -p cinnabar` unless SKIP_BUILD=1), PORT (default 7101),
# MAXMEMORY, TOTAL, POLICIES (space-separated).
set -u -o pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-7101}
MAXMEMORY=${MAXMEMORY:-100mb}
TOTAL=${TOTAL:-1000000}
POLICIES=${POLICIES:-"noeviction allkeys-lru allkeys-lfu allkeys-random volatile-lru volatile-lfu volatile-random volatile-ttl"}
BIN=${CINNABAR_BIN:-target/release/cinnabar}

die() { echo "eviction.sh: $*" >&2; exit 1; }
command -v redis-cli >/dev/null || die "redis-cli not found"
if [ -z "${CINNABAR_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p cinnabar >&2 || die "build failed"
fi
[ -x "$BIN" ] || die "$BIN not found"

DIR=$(mktemp -d /tmp/cinnabar-eviction.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT

cli() { redis-cli -p "$PORT" "$@"; }
field() { cli INFO "$1" | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'; }
kb() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# The write stream: SET t:<i> <1000 bytes> EX 100000 for even i, SET p:<i> <1000 bytes>
# for odd i, as RESP, piped through `redis-cli --pipe` (which, unlike redis-benchmark,
# goes on after error replies and counts them).
stream() {
    awk -v n="$TOTAL" 'BEGIN {
        v = sprintf("%1000s", ""); gsub(/ /, "v", v)
        for (i = 0; i < n; i++) {
            k = (i % 2 ? "p:" : "t:") i
            if (i % 2)
                printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1000\r\n%s\r\n", length(k), k, v
            else
                printf "*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1000\r\n%s\r\n$2\r\nEX\r\n$6\r\n100000\r\n", length(k), k, v
        }
    }'
}

printf '%-16s %9s %9s %9s %9s %12s %9s %11s %9s\n' \
    policy budget peak_rss rss used evicted_keys keys oom_refused replies
for policy in $POLICIES; do
    "$BIN" --port "$PORT" --bind 127.0.0.1 --dir "$DIR" --save '' --appendonly no \
        --maxmemory "$MAXMEMORY" --maxmemory-policy "$policy" >"$DIR/log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do cli PING >/dev/null 2>&1 && break; sleep 0.1; done
    cli PING >/dev/null 2>&1 || die "cinnabar did not start (see $DIR/log)"
    budget=$(field memory maxmemory)
    result=$(stream | cli --pipe 2>&1 | tr -d '\r' | sed -n 's/^errors: \([0-9]*\), replies: \([0-9]*\)$/\1 \2/p')
    peak=$(( $(kb VmHWM) * 1024 ))
    rss=$(( $(kb VmRSS) * 1024 ))
    used=$(field memory used_memory)
    evicted=$(field stats evicted_keys)
    keys=$(cli DBSIZE)
    oom=$(cli INFO errorstats | tr -d '\r' | sed -n 's/^errorstat_OOM:count=//p')
    printf '%-16s %8sM %8sM %8sM %8sM %12s %9s %11s %9s\n' "$policy" "$(mib "$budget")" \
        "$(mib "$peak")" "$(mib "$rss")" "$(mib "$used")" "$evicted" "$keys" "${oom:-0}" \
        "${result#* }"
    kill "$PID"; wait "$PID" 2>/dev/null; PID=
done
echo "# $TOTAL SETs of 1000 bytes (half with EX 100000) per policy; peak_rss = VmHWM; replies"
echo "# = replies redis-cli --pipe received; evicted_keys + keys + oom_refused = SETs sent."
