#!/usr/bin/env bash
# bench/json.sh -- JSON document throughput and memory of cinnabar.
#
# Starts a fresh cinnabar (bench/servers.sh: build, pin to SERVER_CPUS, stop on exit), loads
# KEYSPACE copies of a representative product document (one DummyJSON product, ~1.3 KB compact,
# nested objects and arrays), and measures with redis-benchmark, per pipeline depth:
#
#   JSON.SET product:<r> . DOC             whole-document write
#   JSON.GET product:<r>                   whole-document read (compact text)
#   JSON.GET product:<r> .price            one field
#   JSON.NUMINCRBY product:<r> .stock 1    in-place numeric update
#   SET / GET string:<r> DOC               the same bytes as a plain string (baseline)
#   INCR counter:<r>                       a string counter (baseline of NUMINCRBY)
#
# and prints the median requests/s of ROUNDS rounds and the ratio to the string baseline
# (JSON.SET/SET, JSON.GET/GET, JSON.NUMINCRBY/INCR), which is what to quote: absolute rps on a shared VM swing.
# Then bytes per document: MEMORY USAGE and JSON.DEBUG MEMORY of the document against its
# compact JSON text length (target: MEMORY USAGE <= 1.5x the text), for the benchmark document
# and summed over every product of the data file.
#
# Debian's redis-server has no JSON module, so there is no redis column here.
#
# Environment (optional):
#   DATA           products file      (default $SHARED/data/dummyjson-products.json)
#   PRODUCT_ID     which product is the document (default 23: 1289 bytes compact)
#   KEYSPACE       documents loaded / random key range (default 10000)
#   REQUESTS       requests per test and round (default 100000, times N_SCALE)
#   N_SCALE        scales REQUESTS (default 1; 0.1 for a quick look)
#   CLIENTS        redis-benchmark connections (default 50)
#   PIPELINES      pipeline depths (default "1 16")
#   ROUNDS         rounds per test, median reported (default 3)
#   BENCH_CPUS     CPUs of redis-benchmark (default 1); SERVER_CPUS for the server (default 0)
#   CINNABAR_PORT  (default 6395), CINNABAR_BIN, SKIP_BUILD=1 as in bench/servers.sh
set -uo pipefail

CINNABAR_PORT=${CINNABAR_PORT:-6395}
# shellcheck source=bench/servers.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/servers.sh"

DATA=${DATA:-$SHARED/data/dummyjson-products.json}
PRODUCT_ID=${PRODUCT_ID:-23}
KEYSPACE=${KEYSPACE:-10000}
N_SCALE=${N_SCALE:-1}
REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-1 16}
ROUNDS=${ROUNDS:-3}
BENCH_CPUS=${BENCH_CPUS:-1}

for t in "$REDIS_CLI" "$REDIS_BENCHMARK" taskset python3; do
    command -v "$t" >/dev/null 2>&1 || die "missing: $t (apt-get install -y redis-tools util-linux python3)"
done
[ -f "$DATA" ] || die "products file not found: $DATA (set DATA=... or SHARED=...)"
ping_ok "$CINNABAR_PORT" && die "something already answers on port $CINNABAR_PORT (set CINNABAR_PORT)"
N=$(python3 -c "print(max(1000, int($REQUESTS * $N_SCALE)))")

WORKDIR=$(mktemp -d /tmp/cinnabar-bench-json.XXXXXX); TMP_DIRS+=("$WORKDIR")

# The document: compact, key order and number spelling as in the file.
DOC=$(python3 - "$DATA" "$PRODUCT_ID" <<'EOF'
import json, sys
products = json.load(open(sys.argv[1], encoding="utf-8"))
if isinstance(products, dict):
    products = products.get("products", [])
doc = next((p for p in products if str(p.get("id")) == sys.argv[2]), None)
if doc is None:
    sys.exit(f"no product with id {sys.argv[2]}")
print(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
EOF
) || die "could not read product $PRODUCT_ID from $DATA"
DOC_BYTES=$(printf '%s' "$DOC" | wc -c)
case $DOC in *__rand_int__*) die "the document contains __rand_int__" ;; esac

resolve_cinnabar
start_cinnabar
cli() { "$REDIS_CLI" -h 127.0.0.1 -p "$CINNABAR_PORT" "$@"; }

# Loads every key redis-benchmark's __rand_int__ can produce for -r KEYSPACE (12 digits).
load() { # prefix command...
    python3 - "$KEYSPACE" "$@" <<'EOF' | cli --pipe >/dev/null || die "loading $1 failed"
import sys
n, prefix, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
out = sys.stdout.buffer
for i in range(n):
    args = [cmd[0].encode(), f"{prefix}{i:012d}".encode()] + [a.encode() for a in cmd[1:]]
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
EOF
}

echo "# document: product $PRODUCT_ID of $(basename "$DATA"), $DOC_BYTES bytes compact; $KEYSPACE keys; $N requests x $ROUNDS rounds, $CLIENTS clients" >&2
load product: JSON.SET . "$DOC"
load string: SET "$DOC"
[ "$(cli DBSIZE)" = $((2 * KEYSPACE)) ] || die "expected $((2 * KEYSPACE)) keys after loading, got $(cli DBSIZE)"
[ "$(cli JSON.GET product:000000000000)" = "$DOC" ] || die "JSON.GET does not give the document back"

# rps PIPELINE args... -> median requests/s over ROUNDS rounds
rps() {
    local p=$1; shift
    local r out vals=()
    for r in $(seq 1 "$ROUNDS"); do
        out=$(taskset -c "$BENCH_CPUS" "$REDIS_BENCHMARK" -h 127.0.0.1 -p "$CINNABAR_PORT" -q \
            -n "$N" -c "$CLIENTS" -P "$p" -r "$KEYSPACE" "$@" 2>&1 | tr '\r' '\n' \
            | grep -o '[0-9.]* requests per second' | tail -1 | cut -d' ' -f1)
        [ -n "$out" ] || die "redis-benchmark gave no figure for: $*"
        vals+=("$out")
    done
    printf '%s\n' "${vals[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

declare -A R
for p in $PIPELINES; do
    R[json_set,$p]=$(rps "$p" JSON.SET product:__rand_int__ . "$DOC")
    R[set,$p]=$(rps "$p" SET string:__rand_int__ "$DOC")
    R[json_get,$p]=$(rps "$p" JSON.GET product:__rand_int__)
    R[get,$p]=$(rps "$p" GET string:__rand_int__)
    R[json_get_field,$p]=$(rps "$p" JSON.GET product:__rand_int__ .price)
    R[json_numincrby,$p]=$(rps "$p" JSON.NUMINCRBY product:__rand_int__ .stock 1)
    R[incr,$p]=$(rps "$p" INCR counter:__rand_int__)
done
for k in "${!R[@]}"; do [ -n "${R[$k]}" ] || die "no figure for $k"; done

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo
echo "throughput (requests/s, median of $ROUNDS; ratio = JSON command / its string baseline)"
printf '%-34s' "test"; for p in $PIPELINES; do printf '%14s %9s' "P=$p rps" "ratio"; done; echo
row() { # label key baseline
    printf '%-34s' "$1"
    for p in $PIPELINES; do
        if [ -n "$3" ]; then printf '%14.0f %9s' "${R[$2,$p]}" "$(ratio "${R[$2,$p]}" "${R[$3,$p]}")"
        else printf '%14.0f %9s' "${R[$2,$p]}" "-"; fi
    done
    echo
}
row "JSON.SET key . doc" json_set set
row "JSON.GET key" json_get get
row "JSON.GET key .price" json_get_field get
row "JSON.NUMINCRBY key .stock 1" json_numincrby incr
row "SET key doc (baseline)" set ""
row "GET key (baseline)" get ""
row "INCR counter (baseline)" incr ""

# Memory: reload a clean document (NUMINCRBY changed stock), then the whole file.
echo
echo "memory per document"
cli JSON.SET mem:doc . "$DOC" >/dev/null
usage=$(cli MEMORY USAGE mem:doc)
debug=$(cli JSON.DEBUG MEMORY mem:doc)
str_usage=$(cli MEMORY USAGE string:000000000000)
printf '  %-44s %6d bytes\n' "compact JSON text" "$DOC_BYTES"
printf '  %-44s %6d bytes  (%s x text)\n' "MEMORY USAGE (JSON document)" "$usage" "$(ratio "$usage" "$DOC_BYTES")"
printf '  %-44s %6d bytes  (%s x text)\n' "JSON.DEBUG MEMORY" "$debug" "$(ratio "$debug" "$DOC_BYTES")"
printf '  %-44s %6d bytes  (%s x text)\n' "MEMORY USAGE (same text as a string)" "$str_usage" "$(ratio "$str_usage" "$DOC_BYTES")"

read -r count total < <(python3 - "$DATA" "$WORKDIR/all.resp" <<'EOF'
import json, sys
products = json.load(open(sys.argv[1], encoding="utf-8"))
if isinstance(products, dict):
    products = products.get("products", [])
total = 0
with open(sys.argv[2], "wb") as out:
    for i, p in enumerate(products):
        text = json.dumps(p, separators=(",", ":"), ensure_ascii=False).encode()
        total += len(text)
        args = [b"JSON.SET", b"all:%d" % i, b".", text]
        out.write(b"*4\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
print(len(products), total)
EOF
)
[ "${count:-0}" -gt 0 ] || die "no products in $DATA"
cli --pipe <"$WORKDIR/all.resp" >/dev/null 2>&1 || die "loading the products file failed"
sum=0
for i in $(seq 0 $((count - 1))); do sum=$((sum + $(cli MEMORY USAGE "all:$i"))); done
printf '  %-44s %6d bytes  MEMORY USAGE %d bytes avg (%s x text)\n' \
    "all $count products: text avg" "$((total / count))" "$((sum / count))" "$(ratio "$sum" "$total")"
verdict=$(python3 -c "print('ok' if $usage <= 1.5 * $DOC_BYTES else 'over')")
echo "  target MEMORY USAGE <= 1.5 x text for the benchmark document: $verdict"
