"""Time and memory of NTXentHCL forward+backward, next to pytorch-metric-learning's NTXentLoss.

Usage::

    uv run python benchmarks/bench_loss.py                      # N = 512, 2048, 8192; D = 128
    uv run python benchmarks/bench_loss.py --sizes 1024 --betas 0.5 --repeats 5
    uv run python benchmarks/bench_loss.py --smoke              # tiny sizes, a few seconds

Each case (loss, N, beta) runs in its own Python process, with labels pairing item i with
item i + N/2 (DynaCLR's ``cat([anchor, positive])``) and embeddings of dimension D:

* time: wall-clock of ``loss(x, labels).backward()`` over ``--repeats`` calls, after the
  memory call below has warmed up, reported as median, min and max;
* memory: how far the process's peak resident set size (Linux ``VmHWM``) rises during one
  forward+backward above its resident size at the start (the peak is reset to that through
  ``/proc/self/clear_refs`` just before), after a warm-up call at N = 8. ``tracemalloc``
  does not see torch's allocations, and in our tries the torch profiler's memory events
  missed the buffers allocated inside this loss, so the kernel's count of resident pages is
  used. For that call glibc is set (``mallopt``) to map every buffer over 64 KiB fresh and
  unmap it when freed, so that no page made resident earlier is silently recycled; the
  timed calls then run with glibc's steady state (buffers up to 32 MiB reused from the
  heap, as after its dynamic threshold has grown in a training loop). The
  figure includes the gradient of x and allocator overhead: an upper bound on the loss's own
  working memory, with a resolution of about 0.2 MB (the kernel updates RSS in batches).

pytorch-metric-learning's ``NTXentLoss`` builds an (N, N * (N - 2)) mask, memory cubic in N
(about 2 GB at N = 512, over 24 GB at N = 2048): it only runs at N <= 512.
"""

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

PML_MAX_N = 512
OURS, PML = "NTXentHCL", "pml NTXentLoss"
TARGET_N, TARGET_MS, TARGET_MB = 2048, 50.0, 100.0


def _resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _set_malloc(mmap_threshold: int, trim_threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds (bytes); False where that is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(libc.mallopt(m_mmap_threshold, mmap_threshold)) and bool(
        libc.mallopt(m_trim_threshold, trim_threshold)
    )


def _worker(case: dict) -> dict:
    """Measure one case in this process and return its times and peak memory."""
    import torch

    if case["threads"]:
        torch.set_num_threads(case["threads"])
    if case["loss"] == OURS:
        from viscy_models import NTXentHCL

        loss_fn = NTXentHCL(temperature=case["temperature"], beta=case["beta"])
    else:
        from pytorch_metric_learning.losses import NTXentLoss

        loss_fn = NTXentLoss(temperature=case["temperature"])

    def step(n: int) -> None:
        gen = torch.Generator().manual_seed(n)
        x = torch.randn(n, case["dim"], generator=gen, requires_grad=True)
        labels = torch.arange(n // 2).repeat(2)
        loss_fn(x, labels).backward()

    step(8)  # load kernels and allocator state at a negligible size
    _set_malloc(64 << 10, 0)
    n = case["n"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, case["dim"], generator=gen, requires_grad=True)
    labels = torch.arange(n // 2).repeat(2)
    Path("/proc/self/clear_refs").write_text("5")  # peak := current resident size
    baseline_kib = _resident_kib("VmHWM")
    loss_fn(x, labels).backward()
    # The kernel batches its RSS counter updates: differences under ~0.2 MB are noise.
    peak_mb = max(_resident_kib("VmHWM") - baseline_kib, 0) / 1024
    _set_malloc(32 << 20, 64 << 20)
    x.grad = None
    loss_fn(x, labels).backward()  # warm the heap for the steady state
    times_ms = []
    for _ in range(case["repeats"]):
        x.grad = None
        start = time.perf_counter()
        loss_fn(x, labels).backward()
        times_ms.append(1e3 * (time.perf_counter() - start))
    return {"times_ms": times_ms, "peak_mb": peak_mb, "threads": torch.get_num_threads()}


def run_cases(cases: list[dict], timeout_s: float = 600.0) -> list[dict]:
    """Run cases one after another in one child process; return them with measurements."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(cases)],
        capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"cases {cases} failed:\n{proc.stderr[-2000:]}")
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return [case | result for case, result in zip(cases, results)]


def plan_cases(sizes: list[int], betas: list[float], **common) -> list[dict]:
    """One case per (N, beta) for our loss, plus the library's at each N <= PML_MAX_N."""
    cases = []
    for n in sizes:
        if n <= PML_MAX_N:
            cases.append({"loss": PML, "n": n, "beta": 0.0, **common})
        cases += [{"loss": OURS, "n": n, "beta": float(beta), **common} for beta in betas]
    return cases


def run(
    sizes, betas, dim=128, temperature=0.07, repeats=7, threads=0, one_process=False
) -> list[dict]:
    """Measure our loss at every (N, beta) and the library's at N <= PML_MAX_N.

    Each case gets a fresh process unless ``one_process`` (the smoke run: it saves the
    seconds of importing torch again, at the cost of isolation between cases).
    """
    common = {"dim": dim, "temperature": temperature, "repeats": repeats, "threads": threads}
    cases = plan_cases(sizes, betas, **common)
    if one_process:
        return run_cases(cases)
    return [row for case in cases for row in run_cases([case])]


def format_table(rows: list[dict]) -> str:
    """A markdown table: median/min/max ms, peak MB, and ratios to the library at that N."""
    baseline = {r["n"]: r for r in rows if r["loss"] == PML}
    lines = [
        "| loss | N | beta | median ms | min ms | max ms | peak MB | time / pml | memory / pml |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        median = statistics.median(r["times_ms"])
        ratios = ["", ""]
        if r["n"] in baseline and r["loss"] != PML:
            base = baseline[r["n"]]
            ratios = [
                f"{median / statistics.median(base['times_ms']):.3f}",
                f"{r['peak_mb'] / max(base['peak_mb'], 1e-9):.4f}",
            ]
        lines.append(
            f"| {r['loss']} | {r['n']} | {r['beta']:g} | {median:.1f} | {min(r['times_ms']):.1f} "
            f"| {max(r['times_ms']):.1f} | {r['peak_mb']:.1f} | {ratios[0]} | {ratios[1]} |"
        )
    return "\n".join(lines)


def target_lines(rows: list[dict]) -> list[str]:
    """Say whether each N = 2048 run of ours meets < 50 ms and < 100 MB (issue 7)."""
    out = []
    for r in rows:
        if r["loss"] == OURS and r["n"] == TARGET_N:
            median = statistics.median(r["times_ms"])
            met = median < TARGET_MS and r["peak_mb"] < TARGET_MB
            out.append(
                f"target N={TARGET_N}, beta={r['beta']:g}: {median:.1f} ms (< {TARGET_MS:g}), "
                f"{r['peak_mb']:.1f} MB (< {TARGET_MB:g}): {'met' if met else 'MISSED'}"
            )
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.07)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: default")
    parser.add_argument("--smoke", action="store_true", help="N = 64, 256; 3 repeats; 1 process")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps([_worker(case) for case in json.loads(args.worker)]))
        return []
    if args.smoke:
        args.sizes, args.repeats = [64, 256], 3
    rows = run(
        args.sizes, args.betas, args.dim, args.temperature, args.repeats, args.threads,
        one_process=args.smoke,
    )  # fmt: skip
    threads = rows[0]["threads"] if rows else 0
    print(
        f"# NTXentHCL forward+backward, D={args.dim}, t={args.temperature}, "
        f"{args.repeats} repeats; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {threads} torch threads, Python {platform.python_version()}"
    )
    print(format_table(rows))
    for line in target_lines(rows):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
