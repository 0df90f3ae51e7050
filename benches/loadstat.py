#!/usr/bin/env python3
"""Helpers for benches/load.sh (standard library only).

Subcommands:
  free-port                      print a free TCP port on 127.0.0.1
  wait-http URL SECONDS [PID]    poll URL until it answers (any status); exit 1 on timeout
                                 or as soon as PID (the server) has exited
  fetch URL OUT [HEADER]         GET URL (optionally with one "Name: value" header), write
                                 the body to OUT, print "STATUS CONTENT-ENCODING HEADER-BYTES"
  cpu PID...                     print the CPU ticks "UTIME STIME" of the PIDs and all their
                                 descendants, summed
  report DIR                     read the runs recorded in DIR and print the comparison table

A run is recorded by load.sh as three files in DIR, named SERVER-CONNS-ROUND.{wrk,cpu,load}:
the wrk output, "UTIME STIME" ticks before and after (four numbers) and the 1-minute
load average before and after.
"""

import http.client
import os
import re
import socket
import statistics
import sys
import time
import urllib.parse

LOOPBACK = "127.0.0.1"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        print(s.getsockname()[1])


def _request(url, header=None, timeout=5.0):
    parts = urllib.parse.urlsplit(url)
    if parts.hostname != LOOPBACK:
        raise SystemExit(f"refusing to send traffic anywhere but {LOOPBACK}: {url}")
    conn = http.client.HTTPConnection(LOOPBACK, parts.port, timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {}
    if header:
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    try:
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        body = res.read()
        return res, body
    finally:
        conn.close()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_http(url, seconds, pid=None):
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        if pid and not _alive(pid):
            raise SystemExit(f"process {pid} exited before {url} answered")
        try:
            _request(url, timeout=1.0)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer within {seconds}s")


def fetch(url, out, header=None):
    res, body = _request(url, header)
    with open(out, "wb") as f:
        f.write(body)
    # Size of the status line and headers as sent (approximately: http.client
    # normalises nothing but the line endings).
    head = len(f"HTTP/1.1 {res.status} {res.reason}\r\n") + sum(
        len(k) + len(v) + 4 for k, v in res.getheaders()
    ) + 2
    print(res.status, res.getheader("Content-Encoding") or "identity", head)


def _children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(k) for k in f.read().split())
    except OSError:
        pass
    return kids


def _ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return 0, 0
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields 14 and 15 of proc(5) (utime, stime) are at 11 and 12 after the name.
    return int(fields[11]), int(fields[12])


def cpu(pids):
    seen = set()
    todo = [int(p) for p in pids]
    user = system = 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        u, s = _ticks(pid)
        user += u
        system += s
        todo.extend(_children(pid))
    print(user, system)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _parse_wrk(text):
    run = {}
    m = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError("no request count in wrk output")
    run["requests"] = int(m.group(1))
    run["seconds"] = _ms(m.group(2) + m.group(3)) / 1000.0
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s*{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        run[key] = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    run["bad"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    run["errors"] = sum(int(g) for g in m.groups()) if m else 0
    return run


def report(directory):
    hz = os.sysconf("SC_CLK_TCK")
    runs = {}
    loads = []
    for name in sorted(os.listdir(directory)):
        m = re.fullmatch(r"([\w.]+)-(\d+)-(\d+)\.wrk", name)
        if not m:
            continue
        server, conns = m.group(1), int(m.group(2))
        base = os.path.join(directory, name[: -len(".wrk")])
        with open(base + ".wrk") as f:
            run = _parse_wrk(f.read())
        with open(base + ".cpu") as f:
            u0, s0, u1, s1 = (int(x) for x in f.read().split())
        with open(base + ".load") as f:
            loads.extend(float(x) for x in f.read().split())
        run["cpu_s"] = (u1 + s1 - u0 - s0) / hz
        run["user_s"] = (u1 - u0) / hz
        runs.setdefault((conns, server), []).append(run)

    def summary(rs):
        # Medians over the rounds: one disturbed round does not move them.
        cpu_us = [r["cpu_s"] * 1e6 / r["requests"] for r in rs if r["requests"]]
        return {
            "rps": statistics.median(r["requests"] / r["seconds"] for r in rs),
            "p50": statistics.median(r["p50"] for r in rs),
            "p99": statistics.median(r["p99"] for r in rs),
            "cpu_us": statistics.median(cpu_us) if cpu_us else float("nan"),
            "user_us": statistics.median(r["user_s"] * 1e6 / r["requests"] for r in rs if r["requests"])
            if cpu_us
            else float("nan"),
            "cpu_spread": (min(cpu_us), max(cpu_us)) if len(cpu_us) > 1 else None,
            "cpu_util": statistics.median(r["cpu_s"] / r["seconds"] for r in rs),
            "bad": sum(r["bad"] + r["errors"] for r in rs),
        }

    def ratio(a, b):
        return f"{a / b:.2f}x" if b else "n/a"

    conns_list = sorted({c for c, _ in runs})
    # aicrd first, nginx (the reference) last, anything else in between.
    order = {"aicrd": 0, "nginx": 2}
    servers = sorted({s for _, s in runs}, key=lambda s: (order.get(s, 1), s))
    width = max(6, *(len(s) for s in servers))
    header = (
        f"{'conns':>5}  {'server':<{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'CPU us/req':>10} {'user':>6} {'CPU util':>8} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for conns in conns_list:
        rows = {s: summary(runs[(conns, s)]) for s in servers if (conns, s) in runs}
        for server, s in rows.items():
            print(
                f"{conns:>5}  {server:<{width}} {s['rps']:>9.0f} {s['p50']:>8.3f} {s['p99']:>8.3f} "
                f"{s['cpu_us']:>10.2f} {s['user_us']:>6.2f} {s['cpu_util'] * 100:>7.0f}% {s['bad']:>6}"
                + (f"  (CPU us/req {s['cpu_spread'][0]:.2f} to {s['cpu_spread'][1]:.2f})" if s["cpu_spread"] else "")
            )
        ref = rows.get("nginx")
        for server, s in rows.items():
            if ref and server != "nginx":
                print(
                    f"{'':>5}  {server}/nginx: req/s {ratio(s['rps'], ref['rps'])}, "
                    f"CPU/request {ratio(s['cpu_us'], ref['cpu_us'])}"
                )
        print()
    if loads:
        print(f"1-minute load average during the runs: {min(loads):.2f} to {max(loads):.2f}")


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    cmd, args = argv[0], argv[1:]
    if cmd == "free-port":
        free_port()
    elif cmd == "wait-http":
        wait_http(*args)
    elif cmd == "fetch":
        fetch(*args)
    elif cmd == "cpu":
        cpu(args)
    elif cmd == "report":
        report(*args)
    else:
        raise SystemExit(f"unknown subcommand {cmd!r}\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
