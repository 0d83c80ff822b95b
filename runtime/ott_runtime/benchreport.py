"""Benchmark reports: every benchmark in tests/bench/ prints one table and writes one JSON.

Speeds are reported as ratios against a baseline measured in the same run, because the
machines are shared and noisy; absolute figures are kept for context only.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

DEFAULT_OUT_DIR = Path(".artifacts/bench")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median_interval(
    values: Sequence[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """A bootstrap percentile interval for the median of ``values``: how far the reported
    median could be from the one a longer run would give, given the spread between rounds."""
    if not values:
        raise ValueError("interval of an empty sample")
    draw = random.Random(seed).choices
    medians = sorted(statistics.median(draw(values, k=len(values))) for _ in range(resamples))
    tail = (1 - confidence) / 2 * 100
    return percentile(medians, tail), percentile(medians, 100 - tail)


def process_cpu_clock(pid: int) -> Callable[[], float]:
    """Reads another process's CPU time (all threads, seconds): its POSIX CPU-time clock, to
    the nanosecond, else /proc's clock ticks (10 ms, too coarse for a short round)."""
    clock = ctypes.c_int()
    if ctypes.CDLL(None).clock_getcpuclockid(pid, ctypes.byref(clock)) == 0:
        return lambda: time.clock_gettime(clock.value)

    def from_proc() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    return from_proc


def median_seconds(run: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of ``run`` over ``repeats`` calls, after one warm-up call."""
    run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


@dataclass
class BenchReport:
    """Rows of one benchmark, printed as a table and written as JSON."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    def add(self, **values: Any) -> None:
        unknown = set(values) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.name}: unknown columns {sorted(unknown)}")
        self.rows.append(values)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @contextmanager
    def timed(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.note(f"benchmark wall time {time.perf_counter() - start:.1f} s")

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "title": self.title,
            "started": self.started.isoformat(),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
        }

    def emit(self, out_dir: Path | None = None, console: Console | None = None) -> Path:
        """Print the table and write ``<out_dir>/<name>.json``; returns the JSON path."""
        console = console or Console()
        table = Table(title=self.title)
        for column in self.columns:
            table.add_column(column)
        for row in self.rows:
            table.add_row(*(_cell(row.get(column)) for column in self.columns))
        console.print(table)
        for note in self.notes:
            console.print(f"  {note}")
        out_dir = out_dir or Path(os.environ.get("OTTC_BENCH_OUT", DEFAULT_OUT_DIR))
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.name}.json"
        path.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        console.print(f"  wrote {path}")
        return path


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)
