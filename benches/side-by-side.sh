#!/bin/bash
# Two builds of the console side by side, by hand (not run by cargo): the
# same wrk runs against two `govwatch serve` processes on one store,
# alternating between them URL by URL so that both see the same machine.
# Prints a markdown table (BENCHMARKS.md, "The index change, side by side").
#
#   cargo bench --bench web                     # fills bench-data/web (1,000,000 items)
#   CFG=bench-data/web/govwatch-web.toml
#   GOVWATCH__STORAGE__INDEX_DIR=/tmp/index-old OLD/govwatch reindex --config $CFG
#   GOVWATCH__STORAGE__INDEX_DIR=/tmp/index-new target/release/govwatch reindex --config $CFG
#   # then each one as `serve`, with GOVWATCH__STORAGE__INDEX_DIR as above,
#   # GOVWATCH__WEB__LISTEN=127.0.0.1:18080 (old) / 127.0.0.1:18081 (new) and
#   # GOVWATCH__WEB__TRUSTED_USER_HEADER=X-Remote-User (user `bench`);
#   benches/side-by-side.sh OLD_PID NEW_PID     # D=10 seconds, C=50 connections
#
# The session comes from the proxy header once; wrk sends its cookie.
set -u
D=${D:-10}; C=${C:-50}
declare -A PORT=([old]=18080 [new]=18081) PID=([old]=$1 [new]=$2) TOK
for s in old new; do
  TOK[$s]=$(curl -s -D - -o /dev/null -H "X-Remote-User: bench" "http://127.0.0.1:${PORT[$s]}/api/findings" \
    | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: govwatch_session=\([^;]*\).*/\1/p')
  [ -n "${TOK[$s]}" ] || { echo "no session from $s" >&2; exit 1; }
done
enc() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$1"; }
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); print v+0} else {sub(/s/,"",v); print v*1000} }'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| endpoint | query | side | total (api, alone) | took_ms alone | requests/s | p50 ms | p99 ms | non-2xx | server CPU ms/request |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for ep in /api/search /search; do
  for q in "热线" "办结率" "政务公开" "信息公开 办结率" "政务公开|2026-08-22"; do
    word=${q%%|*}; since=""; [ "$q" != "$word" ] && since="&since=${q#*|}"
    path="$ep?q=$(enc "$word")$since"
    for s in old new; do
      url="http://127.0.0.1:${PORT[$s]}$path"
      api="http://127.0.0.1:${PORT[$s]}/api/search?q=$(enc "$word")$since"
      j=$(curl -s -H "Cookie: govwatch_session=${TOK[$s]}" "$api")
      total=$(echo "$j" | python3 -c 'import json,sys;d=json.load(sys.stdin);t=d["total"];print(("≈" if d["total_is_estimate"] else "")+format(t,","), round(d["took_ms"],2))')
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: govwatch_session=${TOK[$s]}" "$url")
      [ "$code" = 200 ] || { echo "$s $path answered $code" >&2; exit 1; }
      c0=$(cpu "${PID[$s]}")
      out=$(wrk -t2 -c"$C" -d"${D}s" --latency --timeout 10s -H "Cookie: govwatch_session=${TOK[$s]}" "$url")
      c1=$(cpu "${PID[$s]}")
      rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
      reqs=$(echo "$out" | awk '/requests in/{print $1}')
      p50=$(ms "$(echo "$out" | awk '$1=="50%"{print $2}')")
      p99=$(ms "$(echo "$out" | awk '$1=="99%"{print $2}')")
      non2=$(echo "$out" | awk '/Non-2xx/{print $NF}'); non2=${non2:-0}
      cpums=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" 'BEGIN{printf "%.2f", (b-a)*10/n}')
      read -r t took <<< "$total"
      echo "| \`$ep\` | $word${since:+, since ${q#*|}} | $s | $t | $took | $rps | $p50 | $p99 | $non2 | $cpums |"
    done
  done
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
