"""Summarises bench/run.sh's wrk outputs: a table per concurrency and the ratios."""
import re
import sys
from pathlib import Path


def millis(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse(path):
    out = path.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = millis(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = millis(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, socket.groups())) if socket else 0)
    return rps, p50, p99, errors


def main():
    work, rss_kib, duration, *connections = sys.argv[1:]
    work = Path(work)
    print(f"hookgate benchmark: {duration} per run, payload {Path('bench/payload.json').stat().st_size} B, loopback")
    for c in connections:
        optional = [
            name for name in ("queued", "compare", "otlp", "floor", "flooded") if (work / f"{name}-{c}.txt").exists()
        ]
        names = ["direct", "nginx", "hookgate"] + optional
        rows = {name: parse(work / f"{name}-{c}.txt") for name in names}
        print(f"\n{c} connections")
        print(f"{'':10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for name, (rps, p50, p99, errors) in rows.items():
            print(f"{name:10} {rps:10.0f} {p50:8.2f} {p99:8.2f} {errors:7d}")
        gate, nginx, direct = rows["hookgate"], rows["nginx"], rows["direct"]
        print(f"hookgate/nginx  throughput {gate[0] / nginx[0]:.2f}x   p99 {gate[2] / nginx[2]:.2f}x")
        print(f"hookgate/direct throughput {gate[0] / direct[0]:.2f}x   p99 {gate[2] / direct[2]:.2f}x")
        if "queued" in rows:
            queued = rows["queued"]
            print(f"queued/sync     throughput {queued[0] / gate[0]:.2f}x   p99 {queued[2] / gate[2]:.2f}x")
        if "compare" in rows:
            other = rows["compare"]
            print(f"compare/nginx   throughput {other[0] / nginx[0]:.2f}x   p99 {other[2] / nginx[2]:.2f}x")
        if "otlp" in rows:
            traced = rows["otlp"]
            print(f"otlp/sync       throughput {traced[0] / gate[0]:.2f}x   p99 {traced[2] / gate[2]:.2f}x")
        if "flooded" in rows:
            flooded = rows["flooded"]
            print(f"flooded/sync    throughput {flooded[0] / gate[0]:.2f}x   p99 {flooded[2] / gate[2]:.2f}x")
        if "floor" in rows:
            floor = rows["floor"]
            print(f"floor/nginx     throughput {floor[0] / nginx[0]:.2f}x   p99 {floor[2] / nginx[2]:.2f}x")
            print(f"hookgate/floor  throughput {gate[0] / floor[0]:.2f}x   p99 {gate[2] / floor[2]:.2f}x")
    print(f"\nhookgate peak RSS: {int(rss_kib) / 1024:.1f} MiB")


main()
