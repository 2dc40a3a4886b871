#!/usr/bin/env python3
"""bench_hol.py - head-of-line blocking in the API: slow and fast requests at once.

HEAVY clients each loop a slow request (by default every series' per-run
decode trend since 0, what the dashboard's widest view asks) on a keep-alive
connection of their own, as a browser's connections do; FAST clients each
send a small request (/v1/runs?limit=20) every --pace-ms on a keep-alive
connection of their own. Before the load, the fast request is timed alone.
The slow clients run in a child process of their own: in one Python process
their threads, parsing megabyte answers, would hold the GIL (5 ms switch
interval) while a fast client's answer waited, and the fast figures would
measure Python, not the server (at load average 9: p99 73 ms with the
slow clients in the same process, 35 ms with them in another).
Prints the fast requests' p50/p99/max alone and under load, and the slow
requests' median, in milliseconds (one line each, key=value).

usage: bench/bench_hol.py --url http://127.0.0.1:PORT [--duration S]
           [--heavy N] [--fast N] [--pace-ms MS] [--heavy-path P] [--fast-path P]
           [--token-file F]
Needs only python3. Exit 1 when a request fails.
"""
import argparse
import http.client
import multiprocessing
import statistics
import sys
import threading
import time
import urllib.parse


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


class Client:
    def __init__(self, url, token):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.headers = {"Authorization": "Bearer " + token} if token else {}
        self.conn = None

    def get(self, path):
        """Milliseconds for one GET (the whole body read)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        resp.read()
        ms = (time.perf_counter() - t0) * 1000.0
        if resp.status != 200:
            raise RuntimeError("%s: HTTP %d" % (path, resp.status))
        return ms


def heavy_process(url, token, path, n, duration, results):
    """The slow clients: n threads looping path for duration seconds; puts
    (milliseconds of each answer, errors) on results."""
    stop = threading.Event()
    ms, errors = [], []

    def loop():
        c = Client(url, token)
        try:
            while not stop.is_set():
                ms.append(c.get(path))
        except Exception as e:  # noqa: BLE001 - reported by the parent
            errors.append(str(e))

    th = [threading.Thread(target=loop) for _ in range(n)]
    for t in th:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in th:
        t.join()
    results.put((ms, errors))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--heavy", type=int, default=4)
    ap.add_argument("--fast", type=int, default=2)
    ap.add_argument("--pace-ms", type=float, default=20)
    ap.add_argument("--heavy-path", default="/v1/trends?metric=decode_tps&bucket=run&since=0")
    ap.add_argument("--fast-path", default="/v1/runs?limit=20")
    ap.add_argument("--token-file")
    a = ap.parse_args()
    token = open(a.token_file).read().strip() if a.token_file else None

    alone = Client(a.url, token)
    for _ in range(5):
        alone.get(a.fast_path)          # warm: connection, page cache
    solo = [alone.get(a.fast_path) for _ in range(100)]
    heavy_solo = [alone.get(a.heavy_path) for _ in range(5)]

    stop = threading.Event()
    fast_ms, heavy_ms, errors = [], [], []
    results = multiprocessing.Queue()
    heavy = multiprocessing.Process(target=heavy_process,
                                    args=(a.url, token, a.heavy_path, a.heavy, a.duration,
                                          results))

    def fast_loop():
        c = Client(a.url, token)
        c.get(a.fast_path)
        try:
            while not stop.is_set():
                fast_ms.append(c.get(a.fast_path))
                time.sleep(a.pace_ms / 1000.0)
        except Exception as e:  # noqa: BLE001
            errors.append(str(e))

    th = [threading.Thread(target=fast_loop) for _ in range(a.fast)]
    heavy.start()
    for t in th:
        t.start()
    time.sleep(a.duration)
    stop.set()
    for t in th:
        t.join()
    got_ms, got_errors = results.get()
    heavy.join()
    heavy_ms += got_ms
    errors += got_errors
    if errors:
        print("bench_hol: %d errors, first: %s" % (len(errors), errors[0]), file=sys.stderr)
        return 1
    print("fast_alone n=%d p50=%.1f p99=%.1f max=%.1f" %
          (len(solo), statistics.median(solo), pct(solo, 99), max(solo)))
    print("heavy_alone n=%d median=%.1f" % (len(heavy_solo), statistics.median(heavy_solo)))
    print("fast_under_load n=%d p50=%.1f p99=%.1f max=%.1f" %
          (len(fast_ms), statistics.median(fast_ms), pct(fast_ms, 99), max(fast_ms)))
    print("heavy_under_load n=%d median=%.1f" % (len(heavy_ms), statistics.median(heavy_ms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
