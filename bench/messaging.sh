#!/usr/bin/env bash
# bench/messaging.sh -- throughput of messaging, scripting and transactions: cinnabar
# relative to Debian's redis-server.
#
# Starts redis-server (A) and cinnabar (B) pinned to SERVER_CPUS (bench/servers.sh: build,
# CINNABAR_BIN, SKIP_BUILD, stop on exit), the load on BENCH_CPUS, and measures per server:
#
#   incr      INCR counter: the baseline of evalsha and multi, one plain command
#   publish   PUBLISH ch <DATA_SIZE bytes> to a channel with SUBSCRIBERS readers
#             (`redis-cli subscribe ch` each, on BENCH_CPUS, output discarded)
#   evalsha   EVALSHA <sha> 1 counter, the script `return redis.call('INCR', KEYS[1])`
#             loaded with SCRIPT LOAD first
#   multi     MULTI, INCR counter, EXEC sent in one write per transaction by every
#             connection (bench/txload.rs, built with rustc -O: redis-benchmark cannot
#             send a transaction); rate in transactions/s
#
# Each round runs every test on A then B; the table shows per test the median rate over
# ROUNDS rounds, B/A (> 1: cinnabar faster) and the geometric mean of B/A. Quote ratios,
# not absolute rates: on a shared machine they swing. With a single BENCH_CPUS core, multi
# is bound by the load generator (txload near 100 % of its CPU against either server, its
# kernel time mostly TCP over loopback), so its ratio stays near 1.0; run more ROUNDS there.
#
# Environment (optional): REQUESTS (default 100000, times N_SCALE), N_SCALE (default 1),
# CLIENTS (default 50), SUBSCRIBERS (default 10), DATA_SIZE (default 16), PIPELINE (default 1;
# publish and evalsha only), ROUNDS (default 5), BENCH_CPUS (default 1), TESTS (default
# "incr publish evalsha multi"), and REDIS_PORT (default 6396), CINNABAR_PORT (default 6397),
# SERVER_CPUS, CINNABAR_BIN, SKIP_BUILD=1 as in bench/servers.sh.
#
# Smoke run: N_SCALE=0.05 ROUNDS=1 bench/messaging.sh
set -uo pipefail

REDIS_PORT=${REDIS_PORT:-6396}
CINNABAR_PORT=${CINNABAR_PORT:-6397}
# shellcheck source=bench/servers.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/servers.sh"

case "${1:-}" in -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac

REQUESTS=${REQUESTS:-100000}
N_SCALE=${N_SCALE:-1}
CLIENTS=${CLIENTS:-50}
SUBSCRIBERS=${SUBSCRIBERS:-10}
DATA_SIZE=${DATA_SIZE:-16}
PIPELINE=${PIPELINE:-1}
ROUNDS=${ROUNDS:-5}
BENCH_CPUS=${BENCH_CPUS:-1}
TESTS=${TESTS:-incr publish evalsha multi}

need_tools "$REDIS_BENCHMARK" python3 rustc
N=$(python3 -c "print(max(1000, int($REQUESTS * $N_SCALE)))")

WORKDIR=$(mktemp -d /tmp/cinnabar-bench-messaging.XXXXXX); TMP_DIRS+=("$WORKDIR")
TXLOAD=$WORKDIR/txload
case " $TESTS " in *" multi "*)
    rustc -O --edition 2021 "$BENCH_DIR/txload.rs" -o "$TXLOAD" || die "building txload failed" ;;
esac

resolve_cinnabar
start_redis
start_cinnabar

cli() { "$REDIS_CLI" -h 127.0.0.1 -p "$@"; }
PAYLOAD=$(head -c "$DATA_SIZE" /dev/zero | tr '\0' x)
SCRIPT="return redis.call('INCR', KEYS[1])"

declare -A SHA
for port in "$REDIS_PORT" "$CINNABAR_PORT"; do
    SHA[$port]=$(cli "$port" SCRIPT LOAD "$SCRIPT") || die "SCRIPT LOAD failed on $port"
    # The subscribers of the publish test; they live until the end (servers.sh kills them).
    for _ in $(seq 1 "$SUBSCRIBERS"); do
        taskset -c "$BENCH_CPUS" "$REDIS_CLI" -h 127.0.0.1 -p "$port" SUBSCRIBE ch >/dev/null 2>&1 &
        STARTED_PIDS+=("$!")
    done
    deadline=$((SECONDS + 10))
    until [ "$(cli "$port" PUBSUB NUMSUB ch | tail -1)" = "$SUBSCRIBERS" ]; do
        [ $SECONDS -lt $deadline ] || die "$SUBSCRIBERS subscribers did not appear on $port"
        sleep 0.1
    done
done
[ "${SHA[$REDIS_PORT]}" = "${SHA[$CINNABAR_PORT]}" ] || die "the servers disagree on the script's SHA1"

# bench_rate TEST PORT -> requests (transactions for multi) per second, one run
bench_rate() {
    local t=$1 port=$2 args
    case $t in
        incr) args=(INCR counter) ;;
        publish) args=(PUBLISH ch "$PAYLOAD") ;;
        evalsha) args=(EVALSHA "${SHA[$port]}" 1 counter) ;;
        multi)
            taskset -c "$BENCH_CPUS" "$TXLOAD" 127.0.0.1 "$port" "$CLIENTS" "$N" counter
            return ;;
        *) die "unknown test $t" ;;
    esac
    taskset -c "$BENCH_CPUS" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$port" -q -n "$N" \
        -c "$CLIENTS" -P "$PIPELINE" "${args[@]}" 2>&1 | tr '\r' '\n' \
        | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1
}

echo "# redis pid $REDIS_PID, $CINNABAR_LABEL pid $CINNABAR_PID; servers on cpu $SERVER_CPUS, load on cpu $BENCH_CPUS" >&2
echo "# $N requests x $ROUNDS rounds, $CLIENTS clients, pipeline $PIPELINE, $SUBSCRIBERS subscribers, $DATA_SIZE-byte messages" >&2

declare -A RATES
for r in $(seq 1 "$ROUNDS"); do
    for t in $TESTS; do
        for port in "$REDIS_PORT" "$CINNABAR_PORT"; do
            v=$(bench_rate "$t" "$port")
            [ -n "$v" ] || die "no figure for $t on port $port"
            RATES[$t,$port]="${RATES[$t,$port]:-} $v"
        done
        echo "# round $r $t: redis $(echo "${RATES[$t,$REDIS_PORT]}" | awk '{print $NF}')" \
            "$CINNABAR_LABEL $(echo "${RATES[$t,$CINNABAR_PORT]}" | awk '{print $NF}')" >&2
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf '%-10s %14s %14s %8s\n' test redis "$CINNABAR_LABEL" B/A
for t in $TESTS; do
    a=$(echo "${RATES[$t,$REDIS_PORT]}" | median)
    b=$(echo "${RATES[$t,$CINNABAR_PORT]}" | median)
    printf '%-10s %14s %14s %8s\n' "$t" "$a" "$b" "$(python3 -c "print(f'{$b / $a:.3f}')")"
    echo "$a $b"
done | awk '
    NF == 2 { n++; s += log($2 / $1); next }
    { print }
    END { if (n) printf "%-10s %14s %14s %8.3f\n", "geomean", "", "", exp(s / n) }'
rc=0
kill -0 "$REDIS_PID" 2>/dev/null || { echo "messaging.sh: redis-server died during the run" >&2; rc=1; }
kill -0 "$CINNABAR_PID" 2>/dev/null || { echo "messaging.sh: $CINNABAR_LABEL died during the run" >&2; rc=1; }
echo "# B/A = $CINNABAR_LABEL / redis; > 1 means $CINNABAR_LABEL is faster. Rates: requests/s (multi: transactions/s)."
exit $rc
