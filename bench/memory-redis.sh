#!/usr/bin/env bash
# memory-redis.sh -- memory per key of cinnabar relative to Debian's redis-server.
#
# Starts a fresh redis-server (port $REDIS_PORT, default 6390) pinned to CPU 0,
# runs shared/bench/memory.sh against it, stops it; then the same for a fresh
# cinnabar (port $CINNABAR_PORT, default 6391; built with cargo first). Prints
# RSS bytes per string key and per hash for both and the ratio cinnabar/redis
# (< 1 = cinnabar leaner). Servers are killed on exit.
#
# Environment: STRINGS, HASHES, HASH_FIELDS, VALUE_SIZE, SETTLE (as in
# memory.sh) and the server options documented in bench/servers.sh
# (REDIS_PORT, CINNABAR_PORT, SERVER_CPUS, CINNABAR_CMD, CINNABAR_BIN,
# SKIP_BUILD, SHARED).
#
# Smoke run:  STRINGS=20000 HASHES=2000 bench/memory-redis.sh
set -u -o pipefail
. "$(dirname "$0")/servers.sh"

case "${1:-}" in -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac

need_tools
[ -x "$SHARED/bench/memory.sh" ] || die "$SHARED/bench/memory.sh not found"
export STRINGS=${STRINGS:-1000000} HASHES=${HASHES:-100000} HASH_FIELDS=${HASH_FIELDS:-10} VALUE_SIZE=${VALUE_SIZE:-16}

resolve_cinnabar

measure() { # label port pid -> prints memory.sh output, last line is its csv
    SERVER_PID=$3 "$SHARED/bench/memory.sh" "$2" "$1"
}

start_redis
R_OUT=$(measure redis "$REDIS_PORT" "$REDIS_PID") || { echo "$R_OUT"; die "memory.sh failed against redis"; }
echo "$R_OUT" | grep -v '^csv,'
cleanup   # stop redis before starting B, so they do not share the CPU/memory

start_cinnabar
C_OUT=$(measure "$CINNABAR_LABEL" "$CINNABAR_PORT" "$CINNABAR_PID") || { echo "$C_OUT"; die "memory.sh failed against $CINNABAR_LABEL"; }
echo "$C_OUT" | grep -v '^csv,'
cleanup

R_CSV=$(echo "$R_OUT" | grep '^csv,' | tail -1)
C_CSV=$(echo "$C_OUT" | grep '^csv,' | tail -1)
[ -n "$R_CSV" ] && [ -n "$C_CSV" ] || die "no csv line from memory.sh"

# csv,label,port,strings,hashes,rss_base,rss_strings,rss_total,used_base,used_strings,used_total,
#     rss_bytes_per_string,rss_bytes_per_hash,used_bytes_per_string,used_bytes_per_hash
echo
echo "# memory: $STRINGS string keys, $HASHES hashes x $HASH_FIELDS fields, value size $VALUE_SIZE (RSS deltas)"
awk -F, -v r="$R_CSV" -v c="$C_CSV" -v cl="$CINNABAR_LABEL" 'BEGIN {
    split(r, R, ","); split(c, C, ",")
    w = length(cl) > 12 ? length(cl) : 12
    fmt = "%-28s %12s %" w "s %9s\n"
    printf fmt, "", "redis", cl, "B/A"
    row("RSS bytes per string key", R[12], C[12]); row("RSS bytes per hash", R[13], C[13])
    row("RSS total MiB", R[8] / 1048576, C[8] / 1048576)
    if (R[14] != "" && C[14] != "") {   # only if both report INFO memory used_memory
        row("used_memory B/string key", R[14], C[14]); row("used_memory B/hash", R[15], C[15])
    }
    printf "# B/A = %s / redis; < 1 means %s uses less memory. Quote ratios.\n", cl, cl
}
function row(name, a, b) {
    printf fmt, name, sprintf("%.1f", a), sprintf("%.1f", b), (a > 0 ? sprintf("%.3f", b / a) : "n/a")
}'
