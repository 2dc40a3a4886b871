#!/usr/bin/env python3
"""ref_client.py - the reference Python load generator of bench_vs_python.py.

What the common benchmark scripts do (asyncio + aiohttp): per stream, POST a
streamed chat completion, then per line of the response read the line, strip
`data: `, json.loads the chunk and take a time.perf_counter() timestamp of
each content-bearing chunk; TTFT and decode speed come from those stamps.

    ref_client.py URL MODEL STREAMS REQUESTS MAX_TOKENS

runs REQUESTS requests, STREAMS at a time, and prints one JSON line:
{"requests": n, "ok": n, "tokens": n, "events": n, "wall_s": s}. The
caller measures this process's CPU (wait4's rusage).
"""
import asyncio
import json
import sys
import time

import aiohttp


async def one(session, url, model, max_tokens, totals):
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "go"}],
    }
    t0 = time.perf_counter()
    stamps = []
    tokens = None
    async with session.post(url, json=body) as resp:
        if resp.status != 200:
            return
        async for raw in resp.content:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data: "):
                continue
            data = line[len("data: "):]
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            now = time.perf_counter()
            choices = chunk.get("choices") or []
            if choices:
                delta = choices[0].get("delta") or {}
                if delta.get("content") or delta.get("reasoning_content"):
                    stamps.append(now)
            usage = chunk.get("usage")
            if usage:
                tokens = usage.get("completion_tokens")
    if not stamps:
        return
    ttft = stamps[0] - t0
    decode = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    totals["ok"] += 1
    totals["events"] += len(stamps)
    totals["tokens"] += tokens if tokens is not None else len(stamps)
    totals["ttft_sum"] += ttft
    totals["decode_sum"] += decode


async def worker(session, url, model, max_tokens, left, totals):
    while left[0] > 0:
        left[0] -= 1
        await one(session, url, model, max_tokens, totals)


async def main():
    base, model = sys.argv[1], sys.argv[2]
    streams, requests, max_tokens = (int(a) for a in sys.argv[3:6])
    url = base.rstrip("/") + "/v1/chat/completions"
    totals = {"ok": 0, "events": 0, "tokens": 0, "ttft_sum": 0.0, "decode_sum": 0.0}
    left = [requests]
    conn = aiohttp.TCPConnector(limit=streams)
    timeout = aiohttp.ClientTimeout(total=600)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        await asyncio.gather(*(worker(session, url, model, max_tokens, left, totals)
                               for _ in range(streams)))
    wall = time.perf_counter() - t0
    print(json.dumps({"requests": requests, "ok": totals["ok"], "tokens": totals["tokens"],
                      "events": totals["events"], "wall_s": wall}))


if __name__ == "__main__":
    asyncio.run(main())
