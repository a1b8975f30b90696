#!/usr/bin/env bash
# snapshot-memory.sh -- memory and duration of a background snapshot under write load.
#
# Starts cinnabar, loads $KEYS (default 1000000) keys `key:%012d` (the names
# redis-benchmark's -r gives) with $SIZE-byte values (default 16), then runs a continuous
# write load (redis-benchmark SET on random keys of the same key space, $CLIENTS clients)
# and samples the server's RSS every 10 ms: $STEADY_S seconds (default 3) before BGSAVE,
# then until the background save has finished. Prints the steady RSS (median and max of
# the samples before BGSAVE), the peak RSS while BGSAVE ran, their ratio (D5's target:
# peak <= 1.1 x steady), the BGSAVE duration, the file size and INFO's rdb_last_cow_size
# (the most serialized bytes held in memory at once).
#
# Environment: CINNABAR_BIN (default target/release/cinnabar, built with
# `cargo build --release -p cinnabar` unless SKIP_BUILD=1), PORT (default 7205), KEYS,
# SIZE, CLIENTS (default 4), STEADY_S, SHARDS (cinnabar's `shards`, default its own).
set -u -o pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-7205}
KEYS=${KEYS:-1000000}
SIZE=${SIZE:-16}
CLIENTS=${CLIENTS:-4}
STEADY_S=${STEADY_S:-3}
BIN=${CINNABAR_BIN:-target/release/cinnabar}

die() { echo "snapshot-memory.sh: $*" >&2; exit 1; }
for t in redis-cli redis-benchmark python3; do
    command -v "$t" >/dev/null || die "$t not found"
done
if [ -z "${CINNABAR_BIN:-}" ] && [ "${SKIP_BUILD:-0}" != 1 ]; then
    cargo build --release -p cinnabar >&2 || die "build failed"
fi
[ -x "$BIN" ] || die "$BIN not found"

DIR=$(mktemp -d /tmp/cinnabar-snapmem.XXXXXX)
PID=
LOAD=
SAMPLER=
cleanup() {
    [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
    [ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT

cli() { redis-cli -p "$PORT" "$@"; }
field() { cli INFO persistence | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'; }
now_ms() { date +%s%3N; }

EXTRA=()
[ -n "${SHARDS:-}" ] && EXTRA=(--shards "$SHARDS")
"$BIN" --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" \
    --loglevel warning "${EXTRA[@]}" &
PID=$!
for _ in $(seq 1 300); do
    cli PING >/dev/null 2>&1 && break
    sleep 0.1
done
cli PING >/dev/null 2>&1 || die "cinnabar did not start"

echo "loading $KEYS keys of $SIZE bytes..." >&2
awk -v n="$KEYS" -v size="$SIZE" 'BEGIN {
    v = sprintf("%" size "s", ""); gsub(/ /, "x", v)
    for (i = 0; i < n; i++) {
        k = sprintf("key:%012d", i)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
    }
}' | cli --pipe >/dev/null || die "load failed"
[ "$(cli DBSIZE)" = "$KEYS" ] || die "expected $KEYS keys, got $(cli DBSIZE)"

# RSS sampler: "ms rss_kb" every 10 ms until killed.
python3 - "$PID" >"$DIR/samples" <<'EOF' &
import sys, time
pid = sys.argv[1]
while True:
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        break
    print(int(time.time() * 1000), rss, flush=True)
    time.sleep(0.01)
EOF
SAMPLER=$!

redis-benchmark -p "$PORT" -t set -r "$KEYS" -d "$SIZE" -c "$CLIENTS" -n 2000000000 -q \
    >/dev/null 2>&1 &
LOAD=$!
sleep 1 # the load reaches its pace
STEADY_FROM=$(now_ms)
sleep "$STEADY_S"
START=$(now_ms)
[ "$(cli BGSAVE)" = "Background saving started" ] || die "BGSAVE refused"
while [ "$(field rdb_bgsave_in_progress)" != "0" ]; do
    sleep 0.01
done
END=$(now_ms)
sleep 0.1
kill "$LOAD" 2>/dev/null
LOAD=
kill "$SAMPLER" 2>/dev/null
SAMPLER=
[ "$(field rdb_last_bgsave_status)" = "ok" ] || die "BGSAVE failed"
COW=$(field rdb_last_cow_size)
FILE=$(stat -c %s "$DIR/dump.rdb")

python3 - "$DIR/samples" "$STEADY_FROM" "$START" "$END" "$COW" "$FILE" "$KEYS" <<'EOF'
import statistics, sys
path, steady_from, start, end, cow, size, keys = sys.argv[1:]
steady_from, start, end = int(steady_from), int(start), int(end)
samples = [tuple(map(int, l.split())) for l in open(path) if l.strip()]
steady = [r for t, r in samples if steady_from <= t < start]
during = [r for t, r in samples if start <= t <= end + 10]
if not steady or not during:
    sys.exit("snapshot-memory.sh: not enough RSS samples")
med, top, peak = statistics.median(steady), max(steady), max(during)
mib = lambda kb: kb / 1024
print(f"keys                    {keys}")
print(f"steady RSS (median/max) {mib(med):.1f} / {mib(top):.1f} MiB  ({len(steady)} samples)")
print(f"peak RSS during BGSAVE  {mib(peak):.1f} MiB  ({len(during)} samples)")
print(f"ratio peak / steady     {peak / med:.3f}  (vs max before: {peak / top:.3f}; target <= 1.1)")
print(f"BGSAVE duration         {end - start} ms")
print(f"file size               {int(size) / 1048576:.1f} MiB")
print(f"rdb_last_cow_size       {int(cow) / 1048576:.2f} MiB")
EOF
