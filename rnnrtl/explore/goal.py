"""Goals of a design-space search: ``agreement>=0.995``, ``auc_drop<=0.002``, ``max_err<=0.05``.

A goal is one bound on one metric of an evaluated design (:data:`METRICS`). The metrics of
numbers (agreement, AUC, errors) come from :mod:`rnnrtl.evaluation`; ``ii`` and ``latency``
(cycles, from the design's timing) matter only when the search varies reuse factors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Goal", "parse_goals", "METRICS", "DEFAULT_GOAL"]

#: Metric -> (the bound it takes, what it is, what it needs). A bound of the other direction is
#: refused: a design is never "better" with lower agreement.
METRICS = {
    "agreement": (">=", "fraction of decisions equal to the float model's", "float outputs"),
    "accuracy_drop": ("<=", "float accuracy minus fixed accuracy against the labels", "labels"),
    "auc_drop": ("<=", "float AUC minus fixed AUC against the labels (one sigmoid output)",
                 "labels and one output"),
    "max_err": ("<=", "largest |fixed - float| output difference", "float outputs"),
    "mean_err": ("<=", "mean |fixed - float| output difference", "float outputs"),
    "ii": ("<=", "initiation interval in cycles per sequence (with --reuse)", "the timing"),
    "latency": ("<=", "latency in cycles (with --reuse)", "the timing"),
}
#: Metrics the emulator gives (every other one comes from the timing).
NUMERIC = ("agreement", "accuracy_drop", "auc_drop", "max_err", "mean_err")
#: The goal of ``precision: auto`` and of ``rnnrtl explore`` without ``--goal``.
DEFAULT_GOAL = "agreement>=0.995"

_SYNTAX = re.compile(r"^\s*([a-z_]+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Goal:
    """``metric op bound``: a design meets it when its ``metric`` is on the right side of ``bound``."""
    metric: str
    op: str
    bound: float

    def met(self, metrics: dict) -> bool:
        value = metrics.get(self.metric)
        if value is None:
            return False
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def loss(self, metrics: dict) -> float:
        """How far ``metrics`` is from perfect on this goal's scale, ``inf`` if unknown
        (``1 - agreement``; the drops and errors themselves)."""
        value = metrics.get(self.metric)
        if value is None:
            return float("inf")
        return 1.0 - value if self.metric == "agreement" else float(value)

    @property
    def budget(self) -> float:
        """The largest :meth:`loss` that meets the goal."""
        return 1.0 - self.bound if self.metric == "agreement" else self.bound

    def __str__(self):
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_goals(texts) -> tuple[Goal, ...]:
    """Goals from strings like ``"agreement>=0.995"`` (several in one string separated by commas,
    or several strings); :class:`~rnnrtl.errors.ConfigError` naming the bad one and the syntax."""
    if isinstance(texts, str):
        texts = [texts]
    goals = []
    for text in texts:
        for part in str(text).split(","):
            if not part.strip():
                continue
            m = _SYNTAX.match(part)
            valid = ", ".join(f"{k}{v[0]}X" for k, v in METRICS.items())
            if not m:
                raise ConfigError(f"goal {part.strip()!r} is not 'metric>=X' or 'metric<=X'; "
                                  f"valid goals: {valid} (e.g. {DEFAULT_GOAL})")
            metric, op, number = m.groups()
            if metric not in METRICS:
                raise ConfigError(f"goal {part.strip()!r}: unknown metric {metric!r}; valid goals: "
                                  f"{valid}")
            want = METRICS[metric][0]
            if op != want:
                raise ConfigError(f"goal {part.strip()!r}: {metric} takes a bound {want} X "
                                  f"({METRICS[metric][1]})")
            try:
                bound = float(number)
            except ValueError:
                raise ConfigError(f"goal {part.strip()!r}: {number!r} is not a number") from None
            if metric == "agreement" and not 0 <= bound <= 1:
                raise ConfigError(f"goal {part.strip()!r}: agreement is a fraction 0..1 "
                                  "(e.g. agreement>=0.995)")
            if bound < 0 and metric != "agreement":
                raise ConfigError(f"goal {part.strip()!r}: {metric} bounds are >= 0")
            goals.append(Goal(metric, op, bound))
    if not goals:
        raise ConfigError(f"no goal given; e.g. --goal {DEFAULT_GOAL}")
    numeric = [g for g in goals if g.metric in NUMERIC]
    if not numeric:
        raise ConfigError(f"goals {', '.join(map(str, goals))} bound only the timing; give one on "
                          f"the numbers too (e.g. {DEFAULT_GOAL})")
    return tuple(goals)
