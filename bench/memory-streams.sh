#!/usr/bin/env bash
# bench/memory-streams.sh
#
# RSS bytes per stream entry, Debian's redis-server vs cinnabar, each freshly started and
# pinned like memory-redis.sh. Loads STREAMS streams of ENTRIES entries each with
# `XADD s:<i> * f <8-byte value>`, pipelined through redis-cli --pipe.
#
# Environment (optional): STREAMS (default 100), ENTRIES (entries per stream, default
# 10000), plus everything servers.sh accepts (REDIS_PORT, CINNABAR_PORT, CINNABAR_BIN,
# SKIP_BUILD=1...).
set -u -o pipefail
. "$(dirname "$0")/servers.sh"
case "${1:-}" in -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac

need_tools
STREAMS=${STREAMS:-100}
ENTRIES=${ENTRIES:-10000}
resolve_cinnabar

# RESP for the load: entries interleaved across streams, as many producers would write.
gen() {
    awk -v n="$STREAMS" -v m="$ENTRIES" 'BEGIN { ORS = ""
        for (j = 0; j < m; j++) {
            v = sprintf("v%07d", j)
            for (i = 0; i < n; i++) {
                k = sprintf("s:%06d", i)
                printf "*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$1\r\nf\r\n$8\r\n%s\r\n", length(k), k, v
            }
        } }'
}

# The load on a freshly started server: RSS growth per entry, after checking it all landed.
measure_one() { # port pid
    local per; per=$(gen | rss_per_unit "$1" "$2" "$((STREAMS * ENTRIES))")
    local len; len=$("$REDIS_CLI" -p "$1" XLEN s:000000)
    [ "$len" = "$ENTRIES" ] || die "server on port $1 holds $len entries in s:000000, expected $ENTRIES"
    echo "$per"
}

start_redis
R=$(measure_one "$REDIS_PORT" "$REDIS_PID")
cleanup
start_cinnabar
C=$(measure_one "$CINNABAR_PORT" "$CINNABAR_PID")
cleanup

echo "# RSS bytes per stream entry ($STREAMS streams x $ENTRIES entries of 'f' and an 8-byte value); B/A = cinnabar / redis"
awk -v r="$R" -v c="$C" -v cl="$CINNABAR_LABEL" 'BEGIN {
    printf "%-16s %12s %12s %8s\n", "", "redis", cl, "B/A"
    printf "%-16s %12.1f %12.1f %8.3f\n", "bytes/entry", r, c, (r > 0 ? c / r : 0)
}'
