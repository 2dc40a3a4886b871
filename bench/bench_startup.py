#!/usr/bin/env python3
"""bench_startup.py - the fixed cost of a `tpsd run`: start-up on a fresh and on
an existing database, and what one request costs, against one tpsd-sim.

Each figure is a whole `tpsd run --backend none` process, exec to exit (its
rusage from os.wait4; allocations by build/bench/libmalloc_count.so, LD_PRELOAD,
glibc only):

  fresh     one 1-token request into a database file that does not exist yet
            (creation and migration of the schema included)
  existing  the same, into the database the fresh run left
  per req   (a run of N 1-token requests - the `existing` run) / (N - 1), on
            an existing database, at each --concurrency: what one more request
            costs (request body, sample row, events, commit)

  serve     the daemon: `tpsd serve` on a fresh database, until /v1/healthz
            answers, then --jobs jobs of one 1-token request each submitted
            through POST /v1/jobs one after the other, then SIGTERM; and
  per job   (that on an existing database with --jobs jobs - with one job)
            / (--jobs - 1): what one more job costs the daemon

With --before OLD_TPSD (e.g. main's RelWithDebInfo build) every measurement is
made for both binaries, interleaved within each run, so that both see the same
machine load; the table gives medians over --runs, and `uptime`'s load average
before and after.

    python3 bench/bench_startup.py [--build build] [--runs 5] [--requests 300]
                                   [--concurrency 1,64] [--jobs 10] [--before OLD_TPSD]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_vs_python import read_count, start_sim, write_suite  # noqa: E402


# One model that answers at once: the bench measures tpsd, not the wait.
SIM_CFG = {"models": [{"key": "s1", "ttft_ms": 0, "tps": 100000, "tokens_per_event": 1,
                       "usage": True}],
           "loaded": ["s1"]}


def remove_db(db):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)


def tpsd_env(build, tmp):
    """The environment of a measured tpsd (its HOME in tmp, the allocation
    counter preloaded when built) and the counter's file."""
    env = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME=tmp)
    count = os.path.join(tmp, "allocs")
    if os.path.exists(count):
        os.unlink(count)
    lib = os.path.join(build, "bench", "libmalloc_count.so")
    if os.path.exists(lib):
        env["LD_PRELOAD"] = lib
        env["TPSD_MALLOC_COUNT"] = count
    return env, count


def run_tpsd(exe, build, tmp, url, suite, db, requests, streams):
    """One `tpsd run`; a dict of cpu (user+sys s), allocs, bytes."""
    env, count = tpsd_env(build, tmp)
    argv = [exe, "run", "--backend", "none", "--model", "s1", "--suite", suite,
            "--repetitions", str(requests), "--concurrency", str(streams), "--warmup", "0",
            "--base-url", url, "--db", db, "--json"]
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write(err.decode("utf-8", "replace")[-2000:])
        raise SystemExit("%s exited %d" % (exe, os.waitstatus_to_exitcode(status)))
    allocs, nbytes = read_count(count)
    return {"cpu": ru.ru_utime + ru.ru_stime, "allocs": allocs, "bytes": nbytes}


def measure(exe, build, tmp, url, suite, requests, conc):
    """One round for one binary: fresh, existing, and N requests per concurrency."""
    db = os.path.join(tmp, "bench.db")
    remove_db(db)
    r = {"fresh": run_tpsd(exe, build, tmp, url, suite, db, 1, 1),
         "existing": run_tpsd(exe, build, tmp, url, suite, db, 1, 1)}
    for c in conc:
        n = run_tpsd(exe, build, tmp, url, suite, db, requests, c)
        base = r["existing"]
        r["req c=%d" % c] = {
            k: (None if n[k] is None or base[k] is None else (n[k] - base[k]) / (requests - 1))
            for k in n}
    remove_db(db)
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http(method, url, body=None):
    req = urllib.request.Request(url, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def serve_jobs(exe, build, tmp, url, db, jobs):
    """`tpsd serve` on db: ready, `jobs` one-request jobs one after the
    other, SIGTERM. A dict of cpu (user+sys s), allocs, bytes."""
    env, count = tpsd_env(build, tmp)
    port = free_port()
    api = "http://127.0.0.1:%d" % port
    p = subprocess.Popen([exe, "serve", "--listen-port", str(port), "--db", db,
                          "--log-level", "warn"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                http("GET", api + "/v1/healthz")
                break
            except OSError:
                time.sleep(0.02)
        spec = {"models": ["s1"], "repetitions": 1, "warmup": 0,
                "suite": {"name": "one-token",
                          "cases": [{"name": "one", "max_tokens": 1,
                                     "messages": [{"role": "user", "content": "go"}]}]},
                "backend": {"type": "none"}, "server": {"base_url": url}}
        for _ in range(jobs):
            job = http("POST", api + "/v1/jobs", spec)
            for _ in range(3000):
                if http("GET", api + "/v1/jobs/%d" % job["id"])["state"] in (
                        "succeeded", "failed", "cancelled", "interrupted"):
                    break
                time.sleep(0.01)
    finally:
        p.send_signal(signal.SIGTERM)
    _, status, ru = os.wait4(p.pid, 0)
    allocs, nbytes = read_count(count)
    return {"cpu": ru.ru_utime + ru.ru_stime, "allocs": allocs, "bytes": nbytes}


def measure_serve(exe, build, tmp, url, jobs):
    """The daemon: fresh db and one job; existing db and `jobs` jobs."""
    db = os.path.join(tmp, "serve.db")
    remove_db(db)
    r = {"serve fresh": serve_jobs(exe, build, tmp, url, db, 1),
         "serve existing": serve_jobs(exe, build, tmp, url, db, 1)}
    n = serve_jobs(exe, build, tmp, url, db, jobs)
    base = r["serve existing"]
    r["per job"] = {k: (None if n[k] is None or base[k] is None else
                        (n[k] - base[k]) / (jobs - 1)) for k in n}
    remove_db(db)
    return r


def median(rows, key, field):
    vals = [r[key][field] for r in rows if r[key][field] is not None]
    return statistics.median(vals) if vals else None


def fmt(v, scale, spec):
    return "n/a" if v is None else format(v * scale, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", default="1,64")
    ap.add_argument("--jobs", type=int, default=10, help="daemon jobs (0: no daemon figures)")
    ap.add_argument("--before", help="another tpsd binary, measured interleaved")
    a = ap.parse_args()
    if a.requests < 2:
        raise SystemExit("--requests must be at least 2")
    build = os.path.abspath(a.build)
    conc = [int(c) for c in a.concurrency.split(",")]
    bins = [("after", os.path.join(build, "tpsd"))]
    if a.before:
        bins.insert(0, ("before", os.path.abspath(a.before)))
    tmp = tempfile.mkdtemp(prefix="tpsd-startup-")
    sim, url = start_sim(build, tmp, SIM_CFG)
    suite = write_suite(tmp, 1)
    rows = {name: [] for name, _ in bins}
    try:
        print("load before: %s" % open("/proc/loadavg").read().strip()
              if os.path.exists("/proc/loadavg") else subprocess.getoutput("uptime"))
        for _ in range(a.runs):
            for name, exe in bins:
                r = measure(exe, build, tmp, url, suite, a.requests, conc)
                if a.jobs > 1:
                    r.update(measure_serve(exe, build, tmp, url, a.jobs))
                rows[name].append(r)
        print("load after:  %s" % open("/proc/loadavg").read().strip()
              if os.path.exists("/proc/loadavg") else subprocess.getoutput("uptime"))
    finally:
        sim.terminate()
        sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("medians of %d runs; per request: %d 1-token requests minus one, over %d" %
          (a.runs, a.requests, a.requests - 1))
    print("| binary | what | CPU ms (user+sys) | allocations | MB allocated |")
    print("| --- | --- | --- | --- | --- |")
    keys = ["fresh", "existing"] + ["req c=%d" % c for c in conc]
    if a.jobs > 1:
        keys += ["serve fresh", "serve existing", "per job"]
    for key in keys:
        for name, exe in bins:
            print("| %s | %s | %s | %s | %s |" %
                  (name, key, fmt(median(rows[name], key, "cpu"), 1e3, ".2f"),
                   fmt(median(rows[name], key, "allocs"), 1, ".0f"),
                   fmt(median(rows[name], key, "bytes"), 1e-6, ".3f")))


if __name__ == "__main__":
    main()
