#!/usr/bin/env python3
"""Concurrent clients against an OpenAI-compatible server (kiln serve, llama-server): each
client streams one greedy completion of exactly --tokens tokens (ignore_eos), all started at
once. Prints one JSON line: aggregate completion tokens/s over the wall time of the whole batch,
and the median per-client decode rate (tokens after the first ÷ time after the first). Standard
library only. Exits 1 if any request fails or returns another number of tokens.
"""

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True, help="the /v1 base, e.g. http://127.0.0.1:8088/v1")
ap.add_argument("--key", default="")
ap.add_argument("--clients", type=int, default=1)
ap.add_argument("--tokens", type=int, default=64)
ap.add_argument("--prompt", default="def quicksort(xs):")
args = ap.parse_args()
u = urllib.parse.urlparse(args.url)


def one(results, i):
    body = json.dumps({"prompt": args.prompt, "max_tokens": args.tokens, "temperature": 0,
                       "stream": True, "ignore_eos": True,
                       "stream_options": {"include_usage": True}})
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    headers = {"Content-Type": "application/json"}
    if args.key:
        headers["Authorization"] = f"Bearer {args.key}"
    t0 = time.monotonic()
    conn.request("POST", u.path + "/completions", body, headers)
    r = conn.getresponse()
    if r.status != 200:
        results[i] = {"error": f"{r.status} {r.read()[:200]!r}"}
        return
    first = last = None
    tokens = None
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        v = json.loads(line[6:])
        if v.get("usage"):
            tokens = v["usage"]["completion_tokens"]
        if v.get("choices") and v["choices"][0].get("text"):
            now = time.monotonic()
            first = first or now
            last = now
    results[i] = {"t0": t0, "first": first, "last": last, "tokens": tokens,
                  "end": time.monotonic()}


results = [None] * args.clients
threads = [threading.Thread(target=one, args=(results, i)) for i in range(args.clients)]
start = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.monotonic() - start
bad = [r for r in results if not r or "error" in r or r["tokens"] != args.tokens]
if bad:
    print(json.dumps({"error": bad[:3]}))
    sys.exit(1)
rates = [(args.tokens - 1) / (r["last"] - r["first"]) for r in results if r["last"] > r["first"]]
print(json.dumps({
    "clients": args.clients,
    "tokens_each": args.tokens,
    "wall_s": round(wall, 3),
    "aggregate_tok_s": round(args.clients * args.tokens / wall, 1),
    "median_client_decode_tok_s": round(statistics.median(rates), 1) if rates else None,
    "median_first_token_s": round(statistics.median(r["first"] - r["t0"] for r in results), 3),
}))
