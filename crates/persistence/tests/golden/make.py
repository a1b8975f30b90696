#!/usr/bin/env python3
"""Regenerates the golden RDB files with a real redis-server (Debian's 7.0 here).

Usage: make.py PORT   (a redis-server must not already run on PORT)
Each file is written by redis-server itself after FLUSHALL and the commands below; the
expected contents are rebuilt by the same rules in ../golden.rs. TTLs are absolute
(PEXPIREAT) so the files are deterministic apart from the ctime/used-mem aux fields.
"""
import os, shutil, subprocess, sys, tempfile, time

FAR = 4102444800000  # 2100-01-01 in ms


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def prng_bytes(n, seed):
    x = seed
    out = bytearray()
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(x >> 56)
    return bytes(out)


def strings():
    c = [resp("SET", "s:int8", "12"), resp("SET", "s:int16", "1234"),
         resp("SET", "s:int32", "123456789"), resp("SET", "s:int64", "12345678901234"),
         resp("SET", "s:neg", "-5"), resp("SET", "s:short", "hello"),
         resp("SET", "s:empty", ""), resp("SET", "s:binary", bytes(range(256))),
         resp("SET", "s:long", "abc" * 400), resp("SET", "s:random", prng_bytes(300, 7)),
         resp("SET", "s:noncanon", "0123"), resp("SET", "s:ttl", "v"),
         resp("PEXPIREAT", "s:ttl", FAR), resp("SELECT", 3), resp("SET", "s:db3", "in three")]
    return c


def lists():
    c = [resp("RPUSH", "l:small", "a", "b", "1", "2", "-300", "70000", "5000000000", "")]
    c += [resp("RPUSH", "l:big", *["item-%d" % i for i in range(2000)])]
    c += [resp("RPUSH", "l:large", *[("%d" % i) * 5000 for i in range(10)])]
    c += [resp("RPUSH", "l:ttl", "x", "y"), resp("PEXPIREAT", "l:ttl", FAR + 1)]
    return c


def set_intset():
    return [resp("SADD", "set:ints", *range(1, 101)),
            resp("SADD", "set:wide", -70000, 5, 4294967296, -9223372036854775808),
            resp("SADD", "set:ttl", 7, 8), resp("PEXPIREAT", "set:ttl", FAR + 2)]


def set_hashtable():
    return [resp("SADD", "set:strs", "a", "b", "c"),
            resp("SADD", "set:big", *["m-%d" % i for i in range(1000)]),
            resp("SADD", "set:bigints", *range(1000))]


def zset_listpack():
    return [resp("ZADD", "z:small", "1.5", "a", "0", "b", "-2.25", "c", "inf", "d",
                 "-inf", "e", "1e300", "f", "7", "g", "3", "10")]


def zset_skiplist():
    c = [resp("ZADD", "z:big", *sum([["%d.25" % i, "member-%d" % i] for i in range(200)], []))]
    c += [resp("ZADD", "z:longmember", "1", "m" * 100, "2", "short")]
    c += [resp("PEXPIREAT", "z:big", FAR + 3)]
    return c


def hash_listpack():
    return [resp("HSET", "h:small", "f1", "v1", "f2", "22", "num", "-100000", "empty", "")]


def hash_hashtable():
    return [resp("HSET", "h:big", *sum([["field-%d" % i, "value-%d" % i] for i in range(500)], [])),
            resp("HSET", "h:longval", "f", "v" * 100, "g", "1"),
            resp("PEXPIREAT", "h:big", FAR + 4)]


def stream():
    c = []
    for i in range(1, 251):
        if i % 50 == 0:
            c.append(resp("XADD", "x:s", "%d-1" % (1000 + i), "other", "o%d" % i))
        else:
            c.append(resp("XADD", "x:s", "%d-1" % (1000 + i), "name", "n%d" % i, "n", i))
    c += [resp("XDEL", "x:s", "1003-1", "1100-1")]
    c += [resp("XGROUP", "CREATE", "x:s", "g1", "0"),
          resp("XREADGROUP", "GROUP", "g1", "c1", "COUNT", 5, "STREAMS", "x:s", ">"),
          resp("XREADGROUP", "GROUP", "g1", "c2", "COUNT", 2, "STREAMS", "x:s", ">"),
          resp("XACK", "x:s", "g1", "1001-1"),
          resp("XGROUP", "CREATE", "x:s", "g2", "$"),
          resp("XGROUP", "CREATECONSUMER", "x:s", "g2", "idle"),
          resp("XGROUP", "CREATE", "x:empty", "g", "$", "MKSTREAM")]
    return c


def multi_db():
    c = []
    for db in (0, 1, 15):
        c += [resp("SELECT", db)]
        for i in range(10):
            c += [resp("SET", "k%d" % i, "db%d-%d" % (db, i))]
            if i % 3 == 0:
                c += [resp("PEXPIREAT", "k%d" % i, FAR + i)]
    return c


FILES = {
    "strings.rdb": (strings, {}),
    "list_quicklist.rdb": (lists, {}),
    "set_intset.rdb": (set_intset, {}),
    "set_hashtable.rdb": (set_hashtable, {}),
    "zset_listpack.rdb": (zset_listpack, {}),
    "zset_skiplist.rdb": (zset_skiplist, {}),
    "hash_listpack.rdb": (hash_listpack, {}),
    "hash_hashtable.rdb": (hash_hashtable, {}),
    "stream.rdb": (stream, {}),
    "multi_db.rdb": (multi_db, {}),
    "uncompressed.rdb": (lambda: strings() + [resp("SELECT", 0)] + lists(), {"rdbcompression": "no"}),
    "nochecksum.rdb": (hash_listpack, {"rdbchecksum": "no"}),
}


def main():
    port = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp()
    for name, (gen, conf) in FILES.items():
        args = ["redis-server", "--port", port, "--save", "", "--dir", tmp,
                "--dbfilename", name, "--daemonize", "yes"]
        for k, v in conf.items():
            args += ["--" + k, v]
        subprocess.run(args, check=True)
        cli = ["redis-cli", "-p", port]
        for _ in range(50):
            if subprocess.run(cli + ["ping"], capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.1)
        subprocess.run(cli + ["flushall"], check=True, capture_output=True)
        data = b"".join(gen())
        subprocess.run(cli + ["--pipe"], input=data, check=True, capture_output=True)
        subprocess.run(cli + ["save"], check=True, capture_output=True)
        subprocess.run(cli + ["shutdown", "nosave"], capture_output=True)
        time.sleep(0.3)
        shutil.copy(os.path.join(tmp, name), os.path.join(here, name))
        print("wrote", name)
    shutil.rmtree(tmp)


main()
