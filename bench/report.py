"""Summarises bench/run.sh's wrk outputs: a table per concurrency, the
ratios, the gateways' CPU time per request, and the --pairs and --log-cost
medians."""
import re
import statistics
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


def cpu_per_request(work, name, hz):
    """A gateway's CPU µs per request during run `name` (its .cpu file: clock ticks)."""
    requests = int(re.search(r"(\d+) requests in", (work / f"{name}.txt").read_text()).group(1))
    return int((work / f"{name}.cpu").read_text()) * 1e6 / hz / requests


def cpu(work, hz):
    """The CPU time per request of each run that measured it, --pairs runs aside."""
    for path in sorted(work.glob("*.cpu")):
        if not path.stem.startswith(("pair", "cost")):
            print(f"{path.stem:16} CPU per request: {cpu_per_request(work, path.stem, hz):.1f} us")


def pairs(work, hz, c):
    """Each --pairs pair's ratios (hookgate over compare) and their medians."""
    throughput, cpu_ratio = [], []
    i = 1
    while (work / f"pair{i}-hookgate-{c}.txt").exists():
        gate, other = f"pair{i}-hookgate-{c}", f"pair{i}-compare-{c}"
        rps = parse(work / f"{gate}.txt")[0], parse(work / f"{other}.txt")[0]
        us = cpu_per_request(work, gate, hz), cpu_per_request(work, other, hz)
        throughput.append(rps[0] / rps[1])
        cpu_ratio.append(us[0] / us[1])
        first = "hookgate" if i % 2 else "compare"
        print(
            f"pair {i} ({first} first, {c} conn.): {rps[0]:.0f} against {rps[1]:.0f} req/s "
            f"({throughput[-1]:.2f}x), CPU per request {us[0]:.1f} against {us[1]:.1f} us "
            f"({cpu_ratio[-1]:.2f}x)"
        )
        i += 1
    if throughput:
        print(
            f"median of {len(throughput)} pairs ({c} conn.): throughput "
            f"{statistics.median(throughput):.2f}x, CPU per request {statistics.median(cpu_ratio):.2f}x"
        )


def log_cost(work, hz, c):
    """Each --log-cost round's ratios (metadata and bodies over off) and their medians."""
    ratios = {"metadata": ([], []), "bodies": ([], [])}
    i = 1
    while (work / f"cost{i}-off-{c}.txt").exists():
        runs = {mode: f"cost{i}-{mode}-{c}" for mode in ("off", "metadata", "bodies")}
        rps = {mode: parse(work / f"{name}.txt")[0] for mode, name in runs.items()}
        us = {mode: cpu_per_request(work, name, hz) for mode, name in runs.items()}
        line = [f"round {i} ({c} conn.): off {rps['off']:.0f} req/s, {us['off']:.1f} us"]
        for mode, (throughput, cpu_ratio) in ratios.items():
            throughput.append(rps[mode] / rps["off"])
            cpu_ratio.append(us[mode] / us["off"])
            line.append(f"{mode} {rps[mode]:.0f} ({throughput[-1]:.2f}x), {us[mode]:.1f} us ({cpu_ratio[-1]:.2f}x)")
            dropped, shed = (work / f"{runs[mode]}.lost").read_text().split()
            if dropped != "0" or shed != "0":
                line[-1] += f" [{dropped} dropped, {shed} bodies shed]"
        print("; ".join(line))
        i += 1
    for mode, (throughput, cpu_ratio) in ratios.items():
        if throughput:
            print(
                f"log {mode:8} median of {len(throughput)} rounds ({c} conn.): throughput "
                f"{statistics.median(throughput):.2f}x, CPU per request {statistics.median(cpu_ratio):.2f}x (to off)"
            )


def main():
    work, rss_kib, duration, hz, *connections = sys.argv[1:]
    work, hz = Path(work), int(hz)
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
    for c in connections:
        pairs(work, hz, c)
        log_cost(work, hz, c)
    cpu(work, hz)


main()
