#!/usr/bin/env python3
"""bench_vs_python.py - tpsd's client against a reference Python client, side by
side, against ONE tpsd-sim, at three loads (500-token answers, one token per
event):

    1 stream at 1,000 tok/s, 64 streams x 200 tok/s, 64 streams x 1,000 tok/s

For each load it runs, one after the other against the same sim:
  - bench/ref_client.py (asyncio + aiohttp: read a line, strip `data: `,
    json.loads, time.perf_counter() stamps); its CPU is user+sys of that
    process from getrusage (RUSAGE_CHILDREN via os.wait4), startup and
    `import aiohttp` included;
  - `tpsd run --backend none` with a one-case suite of the same size, counted
    whole: the process from exec to exit, including its SQLite database and
    the storage of every sample (os.wait4's rusage of the tpsd process);
  - bench/bench_floor.c, the kernel's floor: the same streams read with
    only what every client must do per wake-up (wait, one recv, one
    timestamp, a scan for the end), no HTTP parsing, JSON or storage;
and prints CPU seconds per million tokens for tpsd and Python and their
ratio, the floor's and each one's multiple of it (Python / floor bounds the
ratio any client can reach against Python on this machine), tpsd's
user CPU per content event and its allocations per event (whole process),
then the hot path alone (bench_chunk: SSE framing and chunk decoding in
process, the scanner and jansson's tree side by side). Allocations are
counted by build/bench/libmalloc_count.so (LD_PRELOAD, glibc): per event
over the whole process, and the marginal count per event (two 1-stream runs
of 500- and 1,000-token answers: the difference of their allocations over
the difference of their events, i.e. what one more event costs, per-request
and startup allocations cancelled out).

    python3 bench/bench_vs_python.py [--build build] [--scale 1.0] [--runs 1]
                                     [--loads 1,2,3] [--before OLD_TPSD]

--scale multiplies the number of requests (default: 30 at 1 stream, 128 at
64 x 200, 640 at 64 x 1,000). Needs a RelWithDebInfo build (`make build`),
python3-aiohttp (scripts/deps.sh --test installs it).
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENS = 500

# name, model key, streams, requests at scale 1, per-stream tok/s
LOADS = [
    ("1 x 1000", "b1", 1, 30, 1000),
    ("64 x 200", "b64s", 64, 128, 200),
    ("64 x 1000", "b64f", 64, 640, 1000),
]


def rusage_cpu(ru):
    return ru.ru_utime + ru.ru_stime


def run_child(argv, env=None, stdout=subprocess.PIPE, ok=(0, 1)):
    """Run argv to its end; (stdout text, user s, sys s, wall s). tpsd run
    exits 1 when a request failed: the caller counts those."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    out, err = b"", b""
    # Read the pipes first (they may fill), then reap with wait4 for the rusage.
    out, err = p.stdout.read() if p.stdout else b"", p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode not in ok:
        sys.stderr.write(err.decode("utf-8", "replace")[-2000:])
        raise SystemExit("%s exited %d" % (argv[0], p.returncode))
    return out.decode("utf-8", "replace"), ru.ru_utime, ru.ru_stime, wall


def start_sim(build, tmp, cfg=None):
    """tpsd-sim with config cfg (default: one model per load of LOADS) on a
    free port: (the process, its base URL). bench_startup.py uses it too."""
    cfg = cfg or {
        "models": [
            {"key": k, "ttft_ms": 20, "tps": tps, "tokens_per_event": 1, "usage": True}
            for (_, k, _, _, tps) in LOADS
        ],
        "loaded": [k for (_, k, _, _, _) in LOADS],
    }
    cfg_path = os.path.join(tmp, "sim.json")
    port_file = os.path.join(tmp, "sim.port")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    sim = subprocess.Popen([os.path.join(build, "tests", "tpsd-sim"), "--port", "0",
                            "--port-file", port_file, "--config", cfg_path])
    for _ in range(200):
        if os.path.exists(port_file) and open(port_file).read().strip():
            return sim, "http://127.0.0.1:%s" % open(port_file).read().strip()
        time.sleep(0.05)
    sim.kill()
    raise SystemExit("tpsd-sim did not start")


def write_suite(tmp, max_tokens):
    path = os.path.join(tmp, "suite%d.json" % max_tokens)
    with open(path, "w") as f:
        json.dump({"name": "bench%d" % max_tokens,
                   "cases": [{"name": "answer", "max_tokens": max_tokens,
                              "messages": [{"role": "user", "content": "go"}]}]}, f)
    return path


def read_count(path):
    """(allocations, bytes allocated) from malloc_count's file, or (None, None)."""
    try:
        with open(path) as f:
            parts = f.read().split()
        return int(parts[1]), int(parts[5])
    except (OSError, IndexError, ValueError):
        return None, None


def read_allocs(path):
    return read_count(path)[0]


def run_tpsd(build, tmp, url, model, streams, requests, max_tokens, tag, exe=None):
    db = os.path.join(tmp, "tpsd-%s.db" % tag)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    env = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME=tmp)
    count = os.path.join(tmp, "allocs-%s" % tag)
    lib = os.path.join(build, "bench", "libmalloc_count.so")
    if os.path.exists(lib):
        env["LD_PRELOAD"] = lib
        env["TPSD_MALLOC_COUNT"] = count
    argv = [exe or os.path.join(build, "tpsd"), "run", "--backend", "none", "--model", model,
            "--suite", write_suite(tmp, max_tokens), "--repetitions", str(requests),
            "--concurrency", str(streams), "--warmup", "0", "--base-url", url,
            "--db", db, "--json"]
    _, user, sys_, wall = run_child(argv, env=env)
    con = sqlite3.connect(db)
    n, ok, tokens, events = con.execute(
        "SELECT count(*), sum(ok), sum(completion_tokens), sum(n_events) FROM samples "
        "WHERE warmup = 0").fetchone()
    con.close()
    return {"requests": n, "ok": ok or 0, "tokens": tokens or 0, "events": events or 0,
            "user": user, "sys": sys_, "wall": wall,
            "allocs": read_allocs(count) if os.path.exists(lib) else None}


def python_with_aiohttp():
    """This interpreter when it has aiohttp, else the system's python3 (Debian's
    python3-aiohttp is installed for /usr/bin/python3, not for a pyenv)."""
    for exe in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3",
                "/opt/homebrew/bin/python3"):
        if os.path.exists(exe) and subprocess.run([exe, "-c", "import aiohttp"],
                                                  stderr=subprocess.DEVNULL).returncode == 0:
            return exe
    raise SystemExit("no python3 with aiohttp: scripts/deps.sh --test installs it")


def run_python(url, model, streams, requests, max_tokens, exe=None):
    """The reference Python client, or with exe another client of the same
    command line and JSON output (bench_floor, the kernel's floor)."""
    argv = ([exe] if exe else [python_with_aiohttp(), os.path.join(HERE, "ref_client.py")]) + \
        [url, model, str(streams), str(requests), str(max_tokens)]
    out, user, sys_, wall = run_child(argv, ok=(0,))
    r = json.loads(out.strip().splitlines()[-1])
    r.update({"user": user, "sys": sys_, "wall": wall})
    return r


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--loads", default="1,2,3", help="which loads, e.g. 1,3")
    ap.add_argument("--no-python", action="store_true", help="tpsd alone (profiling)")
    ap.add_argument("--before", help="another tpsd binary (e.g. main's) run at each load too: "
                    "a before/after under the same machine load")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="tpsd-vs-py-")
    sim, url = start_sim(build, tmp)
    try:
        for run in range(a.runs):
            print("run %d of %d (sim %s)" % (run + 1, a.runs, url))
            print("| load | tok/s reached (tpsd / py) | tpsd CPU s/Mtok (user+sys) | "
                  "Python CPU s/Mtok | ratio | tpsd user us/event | tpsd allocs/event | "
                  "floor CPU s/Mtok | tpsd / floor | Python / floor |")
            print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for i, (name, model, streams, requests, _) in enumerate(LOADS):
                if str(i + 1) not in a.loads.split(","):
                    continue
                n = max(1, int(requests * a.scale))
                t = run_tpsd(build, tmp, url, model, streams, n, TOKENS, "load")
                if a.no_python:
                    p = dict(t)
                else:
                    p = run_python(url, model, streams, n, TOKENS)
                f = run_python(url, model, streams, n, TOKENS,
                               os.path.join(build, "bench", "bench_floor"))
                f_cpu = (f["user"] + f["sys"]) / f["tokens"] * 1e6 if f["tokens"] else None
                if t["ok"] != n or p["ok"] != n:
                    print("  (failures: tpsd %d/%d ok, python %d/%d ok)" %
                          (t["ok"], n, p["ok"], n))
                t_cpu = (t["user"] + t["sys"]) / t["tokens"] * 1e6
                p_cpu = (p["user"] + p["sys"]) / p["tokens"] * 1e6
                allocs = t["allocs"] / t["events"] if t["allocs"] is not None else None
                print("| %s | %.0f / %.0f | %.2f (%.2f + %.2f) | %.2f (%.2f + %.2f) | "
                      "%.2fx | %.3f | %s | %s | %s | %s |" %
                      (name, t["tokens"] / t["wall"], p["tokens"] / p["wall"], t_cpu,
                       t["user"] / t["tokens"] * 1e6, t["sys"] / t["tokens"] * 1e6, p_cpu,
                       p["user"] / p["tokens"] * 1e6, p["sys"] / p["tokens"] * 1e6,
                       p_cpu / t_cpu, t["user"] / t["events"] * 1e6, fmt(allocs, ".2f"),
                       fmt(f_cpu, ".2f"), fmt(f_cpu and t_cpu / f_cpu, ".2f"),
                       fmt(f_cpu and p_cpu / f_cpu, ".2f")))
                if a.before:
                    b = run_tpsd(build, tmp, url, model, streams, n, TOKENS, "before", a.before)
                    b_cpu = (b["user"] + b["sys"]) / b["tokens"] * 1e6
                    print("|   before: %s | %.0f | %.2f (%.2f + %.2f) | | %.2fx | %.3f | %s |" %
                          (os.path.basename(a.before), b["tokens"] / b["wall"], b_cpu,
                           b["user"] / b["tokens"] * 1e6, b["sys"] / b["tokens"] * 1e6,
                           p_cpu / b_cpu, b["user"] / b["events"] * 1e6,
                           fmt(b["allocs"] / b["events"] if b["allocs"] is not None else None,
                               ".2f")))
                sys.stdout.flush()
            # Marginal allocations per event: 500- vs 1,000-token answers.
            k = max(1, int(8 * a.scale))
            s = run_tpsd(build, tmp, url, "b1", 1, k, TOKENS, "short")
            l = run_tpsd(build, tmp, url, "b1", 1, k, 2 * TOKENS, "long")
            if s["allocs"] is not None and l["events"] > s["events"]:
                print("marginal allocations per event (1 stream, %d requests of %d vs %d "
                      "tokens): %.4f (%d vs %d allocations, %d vs %d events)" %
                      (k, TOKENS, 2 * TOKENS,
                       (l["allocs"] - s["allocs"]) / (l["events"] - s["events"]),
                       s["allocs"], l["allocs"], s["events"], l["events"]))
            sys.stdout.flush()
        # The hot path alone (SSE framing + chunk decoding, in process).
        env = dict(os.environ, BENCH_EVENTS="500000")
        lib = os.path.join(build, "bench", "libmalloc_count.so")
        if os.path.exists(lib):
            env["LD_PRELOAD"] = lib
        out, _, _, _ = run_child([os.path.join(build, "bench", "bench_chunk")], env=env,
                                 ok=(0,))
        for line in out.splitlines():
            if line.startswith("path="):
                print("hot path (bench_chunk): " + line)
    finally:
        sim.terminate()
        sim.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
