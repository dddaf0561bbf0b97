#!/usr/bin/env python3
"""Compares the first ten results of two govwatch builds, query by query (by hand, not in CI).

    benches/ranking-compare.py OLD_BIN OLD_CONFIG NEW_BIN NEW_CONFIG [QUERIES_FILE]

Each build searches its own index (give each config its own `index_dir`: a
build with another index schema rebuilds the index it opens). The queries are
the search benchmark's 39 plus three two-word ones, or one per line from
QUERIES_FILE. Prints, per query, how many of the ten results both builds
return and how many titles carry a highlighted query term; then the totals
and the range of the ratio of the two top scores.
"""
import json
import re
import subprocess
import sys
from pathlib import Path


def bench_queries():
    src = (Path(__file__).parent / "search.rs").read_text(encoding="utf-8")
    block = src.split("const QUERIES: &[&str] = &[", 1)[1].split("];", 1)[0]
    return re.findall(r'"([^"]+)"', block) + ["信息公开 办结率", "热线 投诉", "政务公开 年度报告"]


def search(binary, config, query):
    out = subprocess.run(
        [binary, "search", "--config", config, "--json", "--limit", "10", query],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    old_bin, old_cfg, new_bin, new_cfg = sys.argv[1:5]
    queries = bench_queries() if len(sys.argv) == 5 else [
        l.strip() for l in open(sys.argv[5], encoding="utf-8") if l.strip()
    ]
    both = titled_old = titled_new = 0
    ratios = []
    for q in queries:
        a, b = search(old_bin, old_cfg, q), search(new_bin, new_cfg, q)
        same = len({h["id"] for h in a} & {h["id"] for h in b})
        ta = sum("<b>" in h["title_html"] for h in a)
        tb = sum("<b>" in h["title_html"] for h in b)
        both, titled_old, titled_new = both + same, titled_old + ta, titled_new + tb
        if a and b:
            ratios.append(b[0]["score"] / a[0]["score"])
        print(f"{q}\t{same}/10 in both\ttitles with a query term: old {ta}, new {tb}")
    n = len(queries)
    print(f"{n} queries: {both / n:.1f} of 10 results in both on average; "
          f"titles with a query term: old {titled_old}, new {titled_new} of {10 * n}")
    if ratios:
        print(f"top score new/old: {min(ratios):.2f} … {max(ratios):.2f}")


if __name__ == "__main__":
    main()
