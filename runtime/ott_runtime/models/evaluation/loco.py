"""Leave-one-category-out (LOCO) on a NAB corpus: no figure is scored on what chose it.

Every tunable choice is a *candidate*: one detector setting, already run on every file (its
scores per file). For each category in turn, the candidate with the best NAB standard score
on the *other* categories is chosen, and so is each profile's threshold (NAB optimises one
threshold on the corpus: here on the other categories only); the held-out category is then
scored with both, as it comes. A category's score is normalised between the null detector
and the perfect one on its own files; the pooled score sums every held-out category's raw
score (each under its own fold's choices) and normalises it over the whole corpus, so it reads
like NAB's corpus score. A category without windows (artificialNoAnomaly) has no normalised
score; its false positives say how quiet the detector stays there.

``in_sample`` is NAB's own protocol (best candidate and thresholds chosen on all files), kept
for comparison and labelled so wherever it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ott_runtime.models.evaluation.nab import (
    PROFILES,
    CostProfile,
    FileSweep,
    LabelledFile,
    normalise,
    null_result,
    optimise_threshold,
    score_at_threshold,
    sweep_file,
)

Candidates = Mapping[str, Mapping[str, LabelledFile]]  # label -> file name -> scored file
SELECT_PROFILE = "standard"


def category_of(name: str) -> str:
    return name.split("/")[0]


@dataclass(frozen=True)
class Scored:
    """Files scored under one profile at one threshold: NAB raw score and counts."""

    threshold: float
    raw: float
    null: float
    perfect: float
    tp: int
    fn: int
    fp: int

    @property
    def score(self) -> float | None:
        """Normalised 0 (null) .. 100 (perfect); None where there is no window."""
        return normalise(self.raw, self.null, self.perfect) if self.perfect else None


@dataclass(frozen=True)
class Fold:
    """One held-out category: the candidate chosen without it, and its scores per profile."""

    category: str
    choice: str
    profiles: dict[str, Scored]


@dataclass
class ProtocolResult:
    """Per category and overall, per profile; ``protocol`` names how choices were made."""

    protocol: str
    folds: list[Fold]
    pooled: dict[str, float] = field(default_factory=dict)

    @property
    def mean(self) -> dict[str, float]:
        """Mean of the categories' normalised scores (those with windows), per profile."""
        result = {}
        for profile in self.pooled:
            scores = [s for f in self.folds if (s := f.profiles[profile].score) is not None]
            result[profile] = sum(scores) / len(scores) if scores else math.nan
        return result

    def to_json(self) -> dict[str, object]:
        return {
            "protocol": self.protocol,
            "pooled": {p: round(v, 2) for p, v in self.pooled.items()},
            "mean_of_categories": {p: round(v, 2) for p, v in self.mean.items()},
            "categories": {
                f.category: {
                    "choice": f.choice,
                    **{
                        p: {
                            "score": None if s.score is None else round(s.score, 2),
                            "raw": round(s.raw, 4),
                            "threshold": s.threshold,
                            "tp": s.tp,
                            "fn": s.fn,
                            "fp": s.fp,
                        }
                        for p, s in f.profiles.items()
                    },
                }
                for f in self.folds
            },
        }


class _Sweeps:
    """Each candidate's per-file sweeps, per profile, computed once."""

    def __init__(self, candidates: Candidates, profiles: Mapping[str, CostProfile]) -> None:
        self.candidates = candidates
        self.profiles = profiles
        self._cache: dict[tuple[str, str], dict[str, FileSweep]] = {}

    def of(self, label: str, profile: str) -> dict[str, FileSweep]:
        key = (label, profile)
        if key not in self._cache:
            cost = self.profiles[profile]
            self._cache[key] = {
                n: sweep_file(n, f.timestamps, f.scores, f.windows, cost)
                for n, f in self.candidates[label].items()
            }
        return self._cache[key]

    def best(self, names: list[str]) -> str:
        """The candidate with the best standard raw score on ``names`` (first among equals)."""
        scores = {
            label: optimise_threshold(
                [self.of(label, SELECT_PROFILE)[n] for n in names], self.profiles[SELECT_PROFILE]
            )[1]
            for label in self.candidates
        }
        return max(scores, key=lambda label: scores[label])

    def score(self, label: str, profile: str, chosen_on: list[str], scored: list[str]) -> Scored:
        cost = self.profiles[profile]
        sweeps = self.of(label, profile)
        threshold, _ = optimise_threshold([sweeps[n] for n in chosen_on], cost)
        counts = [score_at_threshold(sweeps[n], threshold, cost) for n in scored]
        files = self.candidates[label]
        windows = sum(c.tp + c.fn for c in counts)
        null = null_result({n: files[n] for n in scored}, cost).raw
        return Scored(
            threshold,
            raw=sum(c.score for c in counts),
            null=null,
            perfect=windows * cost.tp,
            tp=sum(c.tp for c in counts),
            fn=sum(c.fn for c in counts),
            fp=sum(c.fp for c in counts),
        )


def _pooled(folds: list[Fold], sweeps: _Sweeps, names: list[str]) -> dict[str, float]:
    files = next(iter(sweeps.candidates.values()))
    result = {}
    for profile, cost in sweeps.profiles.items():
        raw = sum(f.profiles[profile].raw for f in folds)
        perfect = sum(f.profiles[profile].perfect for f in folds)
        null = null_result({n: files[n] for n in names}, cost).raw
        result[profile] = normalise(raw, null, perfect)
    return result


def leave_one_category_out(
    candidates: Candidates, profiles: Mapping[str, CostProfile] = PROFILES
) -> ProtocolResult:
    """Each category scored with the candidate and thresholds chosen on the others."""
    if not candidates:
        raise ValueError("no candidates")
    sweeps = _Sweeps(candidates, profiles)
    names = sorted(next(iter(candidates.values())))
    categories = sorted({category_of(n) for n in names})
    if len(categories) < 2:
        raise ValueError("leave-one-category-out needs at least two categories")
    folds = []
    for category in categories:
        held = [n for n in names if category_of(n) == category]
        others = [n for n in names if category_of(n) != category]
        choice = sweeps.best(others)
        folds.append(
            Fold(category, choice, {p: sweeps.score(choice, p, others, held) for p in profiles})
        )
    return ProtocolResult("leave-one-category-out", folds, _pooled(folds, sweeps, names))


def in_sample(
    candidates: Candidates, profiles: Mapping[str, CostProfile] = PROFILES
) -> ProtocolResult:
    """NAB's protocol: candidate and thresholds chosen on every file, then scored there."""
    sweeps = _Sweeps(candidates, profiles)
    names = sorted(next(iter(candidates.values())))
    choice = sweeps.best(names)
    categories = sorted({category_of(n) for n in names})
    folds = []
    for category in categories:
        held = [n for n in names if category_of(n) == category]
        folds.append(
            Fold(category, choice, {p: sweeps.score(choice, p, names, held) for p in profiles})
        )
    return ProtocolResult("in-sample (chosen on every file)", folds, _pooled(folds, sweeps, names))
