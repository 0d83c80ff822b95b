"""The OTT benchmark: generated viewing series with injected anomalies, and labelled sessions.

Series: one-minute buckets of a tenant's viewing events with a daily and a weekly cycle and
noise; injected anomalies of three kinds (``spike``, ``level_shift``, ``pattern_break``: the
daily curve replaced by a flat or shifted one). Scored per kind on segments: each anomaly is
one positive segment, and the clean stretches are cut into negative segments of the same
length; a segment counts as flagged when the detector raised an alert in it.

Sessions: ordinary viewing sessions and violation-prone ones of four kinds (a kids' profile
on mature titles, proxy and geo mismatch, targeted ads to a kids' profile, bot-like bursts),
with realistic overlap: clean sessions sometimes show one weak signal too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ott_runtime.models.sessions.features import SessionEvent

FloatArray = npt.NDArray[np.float64]
ANOMALY_KINDS = ("spike", "level_shift", "pattern_break")
SESSION_KINDS = ("kids_mature", "geo_proxy", "targeted_kids", "bot_burst")


@dataclass(frozen=True)
class InjectedAnomaly:
    kind: str
    start: int
    length: int


@dataclass(frozen=True)
class BenchmarkSeries:
    name: str
    timestamps: npt.NDArray[np.datetime64]
    values: FloatArray
    anomalies: list[InjectedAnomaly]
    warmup: int  # rows before the first anomaly may be placed (training stretch)


def seasonal_series(
    rng: np.random.Generator, days: int, base: float
) -> tuple[npt.NDArray[np.datetime64], FloatArray]:
    minutes = np.arange(days * 24 * 60)
    start = np.datetime64("2026-01-05T00:00")  # a Monday
    stamps = start + minutes.astype("timedelta64[m]")
    hour = (minutes % (24 * 60)) / 60.0
    weekday = (minutes // (24 * 60)) % 7
    daily = 0.55 + 0.45 * np.sin(2 * np.pi * (hour - 14) / 24)  # evening prime time
    weekly = np.where(weekday >= 5, 1.25, 1.0)
    level = base * daily * weekly
    noisy = rng.poisson(level).astype(np.float64)
    return stamps.astype("datetime64[ns]"), noisy


def inject(values: FloatArray, anomaly: InjectedAnomaly, rng: np.random.Generator) -> None:
    part = slice(anomaly.start, anomaly.start + anomaly.length)
    typical = float(np.median(values[max(0, anomaly.start - 1440) : anomaly.start]))
    if anomaly.kind == "spike":
        values[part] += typical * rng.uniform(2.0, 4.0) + 20
    elif anomaly.kind == "level_shift":
        values[part] *= rng.choice([0.3, 2.2])
    elif anomaly.kind == "pattern_break":  # the daily curve flattens at the day's mean
        values[part] = rng.poisson(max(typical, 1.0), anomaly.length)
    else:
        raise ValueError(f"unknown anomaly kind {anomaly.kind}")


def generate_series(seed: int = 0, n_series: int = 4, days: int = 10) -> list[BenchmarkSeries]:
    """Series with 2 anomalies of each kind after a 3-day warm-up, well apart."""
    rng = np.random.default_rng(seed)
    result = []
    for index in range(n_series):
        stamps, values = seasonal_series(rng, days, base=float(rng.uniform(40, 200)))
        warmup = 3 * 1440
        kinds = [k for k in ANOMALY_KINDS for _ in range(2)]
        rng.shuffle(kinds)
        slots = np.linspace(warmup + 240, len(values) - 600, len(kinds)).astype(int)
        anomalies = []
        for kind, slot in zip(kinds, slots, strict=True):
            length = {"spike": int(rng.integers(3, 10)), "level_shift": 240, "pattern_break": 360}[
                kind
            ]
            anomaly = InjectedAnomaly(kind, int(slot + rng.integers(0, 120)), length)
            inject(values, anomaly, rng)
            anomalies.append(anomaly)
        result.append(
            BenchmarkSeries(f"tenant-{index}/viewing_events", stamps, values, anomalies, warmup)
        )
    return result


@dataclass(frozen=True)
class KindMetrics:
    kind: str
    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        total = self.tp + self.fn + self.fp + self.tn
        return (self.tp + self.tn) / total if total else 0.0

    def as_row(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "accuracy": round(self.accuracy, 3),
            "tp": self.tp,
            "fn": self.fn,
            "fp": self.fp,
            "tn": self.tn,
        }


def evaluate_series(
    series: list[BenchmarkSeries],
    alerts: list[npt.NDArray[np.bool_]],
    segment: int = 240,
    grace: int = 30,
) -> list[KindMetrics]:
    """Segment-level metrics per anomaly kind and overall (see the module doc)."""
    hits = {k: [0, 0] for k in ANOMALY_KINDS}  # kind -> [tp, fn]
    fp = tn = 0
    for item, alert in zip(series, alerts, strict=True):
        anomalous = np.zeros(len(item.values), dtype=bool)
        for anomaly in item.anomalies:
            end = anomaly.start + anomaly.length + grace
            anomalous[anomaly.start : end] = True
            hits[anomaly.kind][0 if alert[anomaly.start : end].any() else 1] += 1
        for begin in range(item.warmup, len(item.values) - segment + 1, segment):
            if anomalous[begin : begin + segment].any():
                continue
            if alert[begin : begin + segment].any():
                fp += 1
            else:
                tn += 1
    rows = [KindMetrics(k, tp, fn, fp, tn) for k, (tp, fn) in hits.items()]
    total_tp = sum(r.tp for r in rows)
    total_fn = sum(r.fn for r in rows)
    return [*rows, KindMetrics("all", total_tp, total_fn, fp, tn)]


def generate_sessions(
    seed: int = 0, n_sessions: int = 2000, risky_share: float = 0.3
) -> tuple[list[list[SessionEvent]], npt.NDArray[np.int64], list[str]]:
    """Sessions, labels (1 = violation-prone) and the kind of each ("clean" or a risk kind)."""
    rng = np.random.default_rng(seed)
    sessions, labels, kinds = [], [], []
    for _ in range(n_sessions):
        risky = rng.random() < risky_share
        kind = str(rng.choice(SESSION_KINDS)) if risky else "clean"
        sessions.append(_session(rng, kind))
        labels.append(int(risky))
        kinds.append(kind)
    return sessions, np.array(labels, dtype=np.int64), kinds


def _session(rng: np.random.Generator, kind: str) -> list[SessionEvent]:
    n_events = int(rng.integers(6, 40))
    kids = kind in ("kids_mature", "targeted_kids") or rng.random() < 0.15
    time = 0.0
    events = []
    decoy = rng.integers(0, 4) if kind == "clean" and rng.random() < 0.25 else -1  # weak signal
    for index in range(n_events):
        gap = rng.exponential(0.4) if kind == "bot_burst" and index > 2 else rng.exponential(45)
        time += gap
        is_ad = rng.random() < 0.2
        event_type = (
            "ad.impression" if is_ad else ("playback.start" if index == 0 else "playback.heartbeat")
        )
        features = {
            "watched_seconds_log": 0.0 if is_ad else float(np.log1p(rng.uniform(20, 60))),
            "ad_seconds_log": float(np.log1p(rng.uniform(10, 30))) if is_ad else 0.0,
            "kids_profile": float(kids),
            "mature_content": float(
                (kind == "kids_mature" and rng.random() < 0.6) or (decoy == 0 and index == 3)
            ),
            "geo_mismatch": float(
                (kind == "geo_proxy" and rng.random() < 0.7) or (decoy == 1 and index == 2)
            ),
            "proxy": float(
                (kind == "geo_proxy" and rng.random() < 0.5) or (decoy == 2 and index == 4)
            ),
            "targeted_ad": float(
                is_ad and (kind == "targeted_kids" or (not kids and rng.random() < 0.5))
            ),
            "rule_hits": float(
                (kind != "clean" and rng.random() < 0.25) or (decoy == 3 and index == 1)
            ),
        }
        events.append(SessionEvent(event_type, time, features))
    return events
