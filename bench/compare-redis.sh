#!/usr/bin/env bash
# compare-redis.sh -- throughput of cinnabar relative to Debian's redis-server.
#
# Builds cinnabar (cargo build --release -p cinnabar), starts redis-server
# (A, port $REDIS_PORT, default 6390) and cinnabar (B, port $CINNABAR_PORT,
# default 6391), both pinned to CPU 0, then runs shared/bench/compare.sh with
# the load generator pinned to CPU 1 and prints its table: per test the
# median rps of each and B/A = cinnabar/redis (>1 = cinnabar faster), plus
# the geometric mean of B/A per pipeline depth. Servers are killed on exit.
#
# Environment: everything compare.sh/throughput.sh accept (TESTS, PIPELINES,
# ROUNDS, N_SCALE, CLIENTS, KEYSPACE, DATA_SIZE, OUT_DIR, ...), BENCH_CPUS
# (default 1), and the server options documented in bench/servers.sh
# (REDIS_PORT, CINNABAR_PORT, SERVER_CPUS, CINNABAR_CMD, CINNABAR_BIN,
# SKIP_BUILD, SHARED).
#
# Smoke run:        N_SCALE=0.02 ROUNDS=1 TESTS="set get" bench/compare-redis.sh
# Noise floor:      CINNABAR_CMD=redis-server bench/compare-redis.sh
set -u -o pipefail
. "$(dirname "$0")/servers.sh"

case "${1:-}" in -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;; esac

need_tools "$REDIS_BENCHMARK"
[ -x "$SHARED/bench/compare.sh" ] || die "$SHARED/bench/compare.sh not found"
export BENCH_CPUS=${BENCH_CPUS:-1}

resolve_cinnabar
start_redis
start_cinnabar

echo "# redis pid $REDIS_PID, $CINNABAR_LABEL pid $CINNABAR_PID; load generator on cpu $BENCH_CPUS" >&2
echo "# TESTS=${TESTS:-default} PIPELINES=${PIPELINES:-default} ROUNDS=${ROUNDS:-3} N_SCALE=${N_SCALE:-1}" >&2
"$SHARED/bench/compare.sh" "$REDIS_PORT" "$CINNABAR_PORT" redis "$CINNABAR_LABEL"
rc=$?
# A server that died mid-run shows up as ERROR rows; say so explicitly.
kill -0 "$REDIS_PID" 2>/dev/null || { echo "compare-redis.sh: redis-server died during the run" >&2; rc=1; }
kill -0 "$CINNABAR_PID" 2>/dev/null || { echo "compare-redis.sh: $CINNABAR_LABEL died during the run" >&2; rc=1; }
echo "# B/A = $CINNABAR_LABEL / redis; > 1 means $CINNABAR_LABEL is faster. Quote ratios, not absolute rps."
exit $rc
