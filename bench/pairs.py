"""Reports bench/run.sh --pairs: each alternating pair's throughput and CPU
ratios (hookgate over compare), and their medians."""
import re
import statistics
import sys
from pathlib import Path


def measured(work, name, hz):
    """Requests/s and CPU µs per request of one wrk run, or None."""
    out = work / f"{name}.txt"
    if not out.exists():
        return None
    text = out.read_text()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    ticks = int((work / f"{name}.cpu").read_text())
    return rps, ticks * 1e6 / hz / requests


def main():
    work, hz, *connections = sys.argv[1:]
    work, hz = Path(work), int(hz)
    for c in connections:
        throughput, cpu = [], []
        i = 1
        while (gate := measured(work, f"pair{i}-hookgate-{c}", hz)) is not None:
            other = measured(work, f"pair{i}-compare-{c}", hz)
            first = "hookgate" if i % 2 else "compare"
            throughput.append(gate[0] / other[0])
            cpu.append(gate[1] / other[1])
            print(
                f"pair {i} ({first} first, {c} conn.): {gate[0]:.0f} against {other[0]:.0f} req/s "
                f"({throughput[-1]:.2f}x), CPU per request {gate[1]:.1f} against {other[1]:.1f} us "
                f"({cpu[-1]:.2f}x)"
            )
            i += 1
        if throughput:
            print(
                f"median of {len(throughput)} pairs ({c} conn.): throughput "
                f"{statistics.median(throughput):.2f}x, CPU per request {statistics.median(cpu):.2f}x"
            )


main()
