#!/usr/bin/env python3
"""Writes a seeded arrival trace for `skiff simulate --trace`: Poisson at BASE req/s, then PEAK req/s
from STEP seconds on, until END; log-normal prompt and output lengths with the given mean and p95.

usage: step-trace.py OUT.csv [BASE PEAK STEP END]   (defaults: 5 50 1800 7200)"""
import math, random, sys

def lognormal(mean, p95):
    ratio = math.log(p95 / mean)
    sigma = 1.645 - math.sqrt(1.645 ** 2 - 2 * ratio)
    return max(1, round(math.exp(random.gauss(math.log(mean) - sigma * sigma / 2, sigma))))

out = sys.argv[1]
base, peak, step, end = (float(x) for x in (sys.argv[2:6] if len(sys.argv) >= 6 else (5, 50, 1800, 7200)))
random.seed(8)
t, lines = 0.0, ["seconds,prompt_tokens,output_tokens"]
while True:
    t += random.expovariate(base if t < step else peak)
    if t >= end:
        break
    lines.append(f"{t:.3f},{lognormal(1000, 3000)},{lognormal(250, 800)}")
open(out, "w").write("\n".join(lines) + "\n")
