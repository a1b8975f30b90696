#!/usr/bin/env bash
# bench/memory-collections.sh
#
# RSS per collection for sets and sorted sets of 10 and of 1,000 members (and lists of 10),
# Debian's redis-server vs cinnabar, each freshly started and pinned like memory-redis.sh.
# Members are 10-byte strings ("m:%08d"); sorted-set scores are the member numbers.
#
# Environment (optional): SMALL (collections of 10 members, default 100000),
# LARGE (collections of 1,000 members, default 1000), plus everything servers.sh accepts.
set -u -o pipefail
. "$(dirname "$0")/servers.sh"
case "${1:-}" in -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac

need_tools
SMALL=${SMALL:-100000}
LARGE=${LARGE:-1000}
resolve_cinnabar

# RESP for one kind of collection: kind n members
gen() {
    awk -v kind="$1" -v n="$2" -v m="$3" 'BEGIN { ORS = ""
        for (i = 0; i < n; i++) {
            k = sprintf("%s:%09d", kind, i)
            if (kind == "zset") { printf "*%d\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n", 2 + 2 * m, length(k), k }
            else if (kind == "list") { printf "*%d\r\n$5\r\nRPUSH\r\n$%d\r\n%s\r\n", 2 + m, length(k), k }
            else { printf "*%d\r\n$4\r\nSADD\r\n$%d\r\n%s\r\n", 2 + m, length(k), k }
            for (j = 0; j < m; j++) {
                mem = sprintf("m:%08d", j)
                if (kind == "zset") { s = j ""; printf "$%d\r\n%s\r\n", length(s), s }
                printf "$%d\r\n%s\r\n", length(mem), mem
            }
        } }'
}

R=""; C=""
for spec in "set $SMALL 10" "set $LARGE 1000" "zset $SMALL 10" "zset $LARGE 1000" "list $SMALL 10"; do
    read -r kind n m <<<"$spec"
    start_redis
    R="$R $(gen "$kind" "$n" "$m" | rss_per_unit "$REDIS_PORT" "$REDIS_PID" "$n")"
    cleanup
    start_cinnabar
    C="$C $(gen "$kind" "$n" "$m" | rss_per_unit "$CINNABAR_PORT" "$CINNABAR_PID" "$n")"
    cleanup
done

echo "# RSS bytes per collection (members are 10-byte strings); B/A = cinnabar / redis"
awk -v r="$R" -v c="$C" -v cl="$CINNABAR_LABEL" 'BEGIN {
    split(r, R, " "); split(c, C, " ")
    split("set of 10|set of 1000|zset of 10|zset of 1000|list of 10", L, "|")
    printf "%-16s %12s %12s %8s\n", "", "redis", cl, "B/A"
    for (i = 1; i <= 5; i++) printf "%-16s %12.1f %12.1f %8.3f\n", L[i], R[i], C[i], (R[i] > 0 ? C[i] / R[i] : 0)
}'
