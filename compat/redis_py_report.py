"""Compares two JUnit XML reports of redis-py's test suite (redis-server vs cinnabar).

With `--single XML` it reports one run alone: passed/failed/skipped counts and each failing
test with the first line of its failure (compat/redis-py.sh --only-cinnabar).

Per test file it prints how many tests redis-server passes, how many of those cinnabar passes
too, and the ratio (every test counts here, whatever its command).

A test is attributed to the Redis command its name starts with (test_zadd_incr -> zadd).
Tests of commands cinnabar does not implement yet are reported separately and left out of
the headline figure, which is: of the tests redis-server passes, how many cinnabar passes.
"""

import collections
import os
import re
import sys
import xml.etree.ElementTree as ET

# Every Redis command name, so a test can be attributed even to a command cinnabar lacks.
REDIS_COMMANDS = set("""
acl append asking auth bgrewriteaof bgsave bitcount bitfield bitfield_ro bitop bitpos blmove blmpop
blpop brpop brpoplpush bzmpop bzpopmax bzpopmin client cluster command config copy dbsize debug decr
decrby del discard dump echo eval evalsha eval_ro evalsha_ro exec exists expire expireat expiretime
failover fcall fcall_ro flushall flushdb function geoadd geodist geohash geopos georadius
georadiusbymember georadius_ro georadiusbymember_ro geosearch geosearchstore get getbit getdel getex
getrange getset hdel hello hexists hexpire hexpireat hexpiretime hget hgetall hgetdel hgetex hincrby
hincrbyfloat hkeys hlen hmget hmset hpersist hpexpire hpexpireat hpexpiretime hpttl hrandfield hscan
hset hsetex hsetnx hstrlen httl hvals incr incrby incrbyfloat info keys lastsave latency lcs lindex
linsert llen lmove lmpop lolwut lpop lpos lpush lpushx lrange lrem lset ltrim memory mget migrate
module monitor move mset msetnx multi object persist pexpire pexpireat pexpiretime pfadd pfcount
pfdebug pfmerge pfselftest ping psetex psubscribe psync pttl publish pubsub punsubscribe quit
randomkey readonly readwrite rename renamenx replconf replicaof reset restore role rpop rpoplpush
rpush rpushx sadd save scan scard script sdiff sdiffstore select set setbit setex setnx setrange
shutdown sinter sintercard sinterstore sismember slaveof slowlog smembers smismember smove sort
sort_ro spop spublish srandmember srem sscan ssubscribe strlen subscribe substr sunion sunionstore
sunsubscribe swapdb sync time touch ttl type unlink unsubscribe unwatch wait waitaof watch xack xadd
xautoclaim xclaim xdel xgroup xinfo xlen xpending xrange xread xreadgroup xrevrange xsetid xtrim
zadd zcard zcount zdiff zdiffstore zincrby zinter zintercard zinterstore zlexcount zmpop zmscore
zpopmax zpopmin zrandmember zrange zrangebylex zrangebyscore zrangestore zrank zrem zremrangebylex
zremrangebyrank zremrangebyscore zrevrange zrevrangebylex zrevrangebyscore zrevrank zscan zscore
zunion zunionstore
""".split())


def outcomes(path):
    """test id -> 'passed' | 'failed' | 'skipped'"""
    result = {}
    if not os.path.exists(path):
        return result
    for case in ET.parse(path).getroot().iter("testcase"):
        tid = case.get("classname", "") + "::" + case.get("name", "")
        if case.find("skipped") is not None:
            result[tid] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            result[tid] = "failed"
        else:
            result[tid] = "passed"
    return result


def command_of(tid):
    name = tid.split("::")[-1]
    name = re.sub(r"\[.*\]$", "", name)
    if not name.startswith("test_"):
        return None
    words = name[len("test_"):].split("_")
    # Longest prefix of words that names a command (joined with or without underscores).
    for n in range(len(words), 0, -1):
        for cand in ("".join(words[:n]), "_".join(words[:n])):
            if cand in REDIS_COMMANDS:
                return cand
    return None


def file_of(tid):
    """tests.test_asyncio.test_pubsub.TestPubSub::test_x -> tests/test_asyncio/test_pubsub.py"""
    parts = tid.split("::")[0].split(".")
    while len(parts) > 1 and parts[-1][:1].isupper():  # test classes, possibly nested
        parts.pop()
    return "/".join(parts) + ".py"


def per_file(redis, cinnabar):
    """file -> [redis passed, cinnabar passed, both passed]"""
    files = collections.defaultdict(lambda: [0, 0, 0])
    for tid in set(redis) | set(cinnabar):
        row = files[file_of(tid)]
        r, c = redis.get(tid) == "passed", cinnabar.get(tid) == "passed"
        row[0] += r
        row[1] += c
        row[2] += r and c
    return files


def print_per_file(redis, cinnabar):
    print("per file: redis passed / cinnabar passed / cinnabar passed of redis's passes (ratio)")
    total = [0, 0, 0]
    for name, (r, c, both) in sorted(per_file(redis, cinnabar).items()):
        pct = 100.0 * both / r if r else 100.0
        print(f"  {name:42} {r:5} {c:5} {both:5}/{r:<5} ({pct:.1f}%)")
        total = [total[0] + r, total[1] + c, total[2] + both]
    r, c, both = total
    pct = 100.0 * both / r if r else 100.0
    print(f"  {'all files':42} {r:5} {c:5} {both:5}/{r:<5} ({pct:.1f}%)")


def failure_reasons(path):
    """test id -> the first line of its failure or error message"""
    result = {}
    if not os.path.exists(path):
        return result
    for case in ET.parse(path).getroot().iter("testcase"):
        tid = case.get("classname", "") + "::" + case.get("name", "")
        node = case.find("failure")
        if node is None:
            node = case.find("error")
        if node is None:
            continue
        text = (node.get("message") or node.text or "").strip()
        result[tid] = (text.splitlines() or [""])[0][:300]
    return result


def single(path):
    """--single XML: one server's counts and every failing test with its reason."""
    res = outcomes(path)
    if not res:
        print(f"no test results in {path}")
        return 1
    counts = collections.Counter(res.values())
    passed, failed, skipped = counts["passed"], counts["failed"], counts["skipped"]
    ran = passed + failed
    pct = 100.0 * passed / ran if ran else 0.0
    print(f"cinnabar: {passed} passed, {failed} failed, {skipped} skipped of {len(res)} tests")
    print(f"pass rate of the tests that ran: {passed}/{ran} ({pct:.1f}%)")
    files = collections.defaultdict(collections.Counter)
    for tid, o in res.items():
        files[file_of(tid)][o] += 1
    print("per file: passed / failed / skipped")
    for name, c in sorted(files.items()):
        print(f"  {name:42} {c['passed']:5} {c['failed']:5} {c['skipped']:5}")
    reasons = failure_reasons(path)
    if failed:
        print("failing tests:")
        for tid in sorted(t for t, o in res.items() if o == "failed"):
            print(f"  {tid}\n      {reasons.get(tid, '')}")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--single":
        sys.exit(single(sys.argv[2]))
    redis, cinnabar = outcomes(sys.argv[1]), outcomes(sys.argv[2])
    built = set(os.environ.get("CINNABAR_COMMANDS", "").split())
    built = {c.split("|")[0] for c in built}
    per = collections.defaultdict(lambda: [0, 0])  # command -> [redis passed, both passed]
    missing = collections.Counter()
    total_redis = sum(1 for o in redis.values() if o == "passed")
    total_cinnabar = sum(1 for o in cinnabar.values() if o == "passed")
    in_scope = both = 0
    for tid, o in redis.items():
        if o != "passed":
            continue
        cmd = command_of(tid) or "(other)"
        if cmd != "(other)" and cmd not in built:
            missing[cmd] += 1
            continue
        in_scope += 1
        per[cmd][0] += 1
        if cinnabar.get(tid) == "passed":
            both += 1
            per[cmd][1] += 1
    print(f"redis-server passed {total_redis} tests; cinnabar passed {total_cinnabar}")
    pct = 100.0 * both / in_scope if in_scope else 0.0
    print(f"of the {in_scope} tests redis-server passes for commands cinnabar has, cinnabar passes {both} ({pct:.1f}%)")
    print(f"left out: {sum(missing.values())} tests of {len(missing)} commands cinnabar does not have yet")
    print("per command (redis passed / cinnabar passed too), imperfect ones:")
    for cmd, (r, c) in sorted(per.items()):
        if c < r:
            print(f"  {cmd:22} {c}/{r}")
    print_per_file(redis, cinnabar)
    if os.environ.get("SHOW_FAILURES"):
        reasons = failure_reasons(sys.argv[2])
        print("failing tests (redis-server passes them):")
        for f in sorted(t for t, o in redis.items() if o == "passed" and cinnabar.get(t) != "passed"):
            print(f"  {f}\n      {reasons.get(f, cinnabar.get(f, 'not run'))}")


if __name__ == "__main__":
    main()
