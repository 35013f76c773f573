#!/usr/bin/env python3
"""Prints the median (and its 95% interval) of every criterion benchmark
under the given target directories, e.g.

    python3 comparisons/rspotify/medians.py target comparisons/rspotify/target

criterion's console line shows the mean; docs/performance.md reports medians.
"""
import json
import pathlib
import sys


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.1f} ns"


for root in sys.argv[1:] or ["target"]:
    for estimates in sorted(pathlib.Path(root, "criterion").glob("**/new/estimates.json")):
        bench = json.loads(estimates.with_name("benchmark.json").read_text())
        median = json.loads(estimates.read_text())["median"]
        ci = median["confidence_interval"]
        print(f"{bench['full_id']:55} median {fmt(median['point_estimate']):>10}"
              f"  [{fmt(ci['lower_bound'])} .. {fmt(ci['upper_bound'])}]")
