#!/usr/bin/env python3
# How good the estimated search totals are, by hand (not run by cargo): for
# 25 queries x 4 date ranges, the total a relevance search reports against
# the exact count (sort=newest counts every match), on two `govwatch serve`
# processes side by side (ports 18080 and 18081, user `bench` through the
# trusted proxy header; see benches/side-by-side.sh for starting them).
# Prints one line per query and range, then the error summary per server.
# BENCHMARKS.md, "How good the estimated totals are".
import json
import urllib.parse
import urllib.request

QUERIES = ["热线", "办结率", "政务公开", "信息公开 办结率", "公开栏", "微信", "网站", "考核", "投诉", "乡镇",
           "政策解读", "行政复议", "年度报告", "门户网站", "办事指南", "服务中心", "依申请公开", "新闻发布会",
           "规范性文件", "人大代表建议", "信息公开条例", "公开目录", "保密审查", "重大决策", "政务微博"]
RANGES = ["", "&since=2026-08-22", "&since=2026-01-01&until=2026-03-31", "&since=2026-11-01&until=2026-11-07"]
PORTS = (18080, 18081)


def get(port, q, extra):
    url = f"http://127.0.0.1:{port}/api/search?q={urllib.parse.quote(q)}{extra}&limit=1"
    req = urllib.request.Request(url, headers={"X-Remote-User": "bench"})
    return json.load(urllib.request.urlopen(req))


errors = {p: [] for p in PORTS}
for q in QUERIES:
    for r in RANGES:
        exact = get(PORTS[0], q, r + "&sort=newest")["total"]
        row = [q, r, exact]
        for p in PORTS:
            got = get(p, q, r)
            e = (got["total"] - exact) / exact if exact else 0.0
            errors[p].append(abs(e))
            row.append(("≈" if got["total_is_estimate"] else "") + f"{got['total']} ({e:+.1%})")
        print(" | ".join(map(str, row)))
for p, v in errors.items():
    v.sort()
    n = len(v)
    print(p, f"mean |error| {sum(v) / n:.1%}, median {v[n // 2]:.1%}, 90th percentile {v[int(n * 0.9)]:.1%}, worst {v[-1]:.1%}")
