#!/usr/bin/env python3
"""Crash test of the append-only file: acknowledged writes must survive SIGKILL.

Starts cinnabar with `appendonly yes` on a fresh directory. WRITERS threads each append
consecutive sequence numbers to their own list (RPUSH seq:<t> <n>) and record every
acknowledged one with the time of its reply. At a random moment the server is killed
with SIGKILL, restarted on the same directory, and every list is checked: it must hold
0..k-1 in order with k >= the number of acknowledged pushes (one more is fine: a push in
flight at the kill may have been applied without its reply arriving). Missing entries
are counted, and the loss window of a round is the time between the reply to the first
lost write and the kill. Repeats ROUNDS times; small auto-rewrite thresholds make
rewrites (and kills during them) happen along the way.

Prints one line per round and a summary: acknowledged writes, missing, worst loss window
(ms), restarts that cut a torn tail. Exit status 1 when any acknowledged
write is missing with --fsync always.

Usage: aof_crash.py --bin target/release/cinnabar [--port 7707] [--fsync always]
                    [--rounds 50] [--writers 4] [--seed N]
"""

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A minimal blocking RESP2 client."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad reply %r" % line)

    def cmd(self, *args):
        self.sock.sendall(encode(*args))
        return self.reply()


class Server:
    def __init__(self, binary, port, directory, fsync, log):
        self.args = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
            "--save", "", "--appendonly", "yes", "--appendfsync", fsync,
            "--auto-aof-rewrite-min-size", "256kb", "--auto-aof-rewrite-percentage", "100",
        ]
        self.port = port
        self.log = log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited with %s (see log)" % self.proc.returncode)
            try:
                c = Conn(self.port, timeout=1)
                c.cmd("PING")
                c.close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("server did not start")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


class Writer(threading.Thread):
    """Pushes consecutive numbers to seq:<id>, remembering each acknowledged one."""

    def __init__(self, ident, port):
        super().__init__(daemon=True)
        self.key = "seq:%d" % ident
        self.port = port
        self.next = 0          # the next number to push
        self.acked_at = {}     # number -> time of its reply
        self.running = threading.Event()
        self.idle = threading.Event()
        self.stopped = False

    def run(self):
        conn = None
        while not self.stopped:
            if not self.running.is_set():
                if conn:
                    conn.close()
                    conn = None
                self.idle.set()
                self.running.wait(0.1)
                continue
            self.idle.clear()
            try:
                if conn is None:
                    conn = Conn(self.port, timeout=5)
                n = self.next
                length = conn.cmd("RPUSH", self.key, n)
                if length != n + 1:
                    raise SystemExit("%s: RPUSH %d answered %r" % (self.key, n, length))
                self.acked_at[n] = time.time()
                self.next = n + 1
            except (OSError, ConnectionError):
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.002)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--port", type=int, default=7707)
    ap.add_argument("--fsync", default="always", choices=["always", "everysec", "no"])
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--min-ms", type=int, default=50)
    ap.add_argument("--max-ms", type=int, default=600)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the directory")
    opts = ap.parse_args()
    rng = random.Random(opts.seed)

    directory = tempfile.mkdtemp(prefix="cinnabar-aof-crash-")
    log_path = os.path.join(directory, "server.log")
    log = open(log_path, "ab")
    server = Server(opts.bin, opts.port, directory, opts.fsync, log)
    writers = [Writer(i, opts.port) for i in range(opts.writers)]
    total_acked = total_missing = truncations = 0
    worst_window_ms = 0.0
    try:
        server.start()
        for w in writers:
            w.start()
        for rnd in range(1, opts.rounds + 1):
            for w in writers:
                w.running.set()
            time.sleep(rng.uniform(opts.min_ms, opts.max_ms) / 1000.0)
            killed_at = time.time()
            server.kill()
            for w in writers:
                w.running.clear()
            for w in writers:
                w.idle.wait(10)
            log.flush()
            before = os.path.getsize(log_path)
            server.start()
            with open(log_path, "rb") as f:
                f.seek(before)
                if b"Truncating the AOF" in f.read():
                    truncations += 1
            c = Conn(opts.port)
            missing = 0
            window = 0.0
            acked_round = 0
            for w in writers:
                acked = w.next  # numbers 0..next-1 were acknowledged
                items = c.cmd("LRANGE", w.key, 0, -1)
                have = [int(x) for x in items]
                if have != list(range(len(have))):
                    raise SystemExit("%s is not a sequence after round %d" % (w.key, rnd))
                lost = max(0, acked - len(have))
                if lost:
                    first_lost = len(have)
                    window = max(window, (killed_at - w.acked_at[first_lost]) * 1000.0)
                missing += lost
                acked_round += acked
                # Resume after what the server holds (a push in flight may have landed).
                w.next = len(have)
                w.acked_at = {n: t for n, t in w.acked_at.items() if n < w.next}
            c.close()
            total_missing += missing
            total_acked = acked_round
            worst_window_ms = max(worst_window_ms, window)
            print("round %2d: %7d acknowledged so far, %d missing, loss window %.1f ms"
                  % (rnd, acked_round, missing, window), flush=True)
    finally:
        for w in writers:
            w.stopped = True
            w.running.set()
        server.stop()
        log.close()
    files = sorted(os.listdir(os.path.join(directory, "appendonlydir")))
    print("appendfsync %s: %d rounds, %d acknowledged writes, %d missing, worst loss "
          "window %.1f ms, %d restarts cut a torn tail; AOF files at the end: %s"
          % (opts.fsync, opts.rounds, total_acked, total_missing, worst_window_ms,
             truncations, " ".join(files)))
    if not opts.keep:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        print("directory kept:", directory)
    if opts.fsync == "always" and total_missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
