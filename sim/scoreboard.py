"""Checking what came out: the :class:`Scoreboard` of output beats, and the II measured from
the cycles at which sequences started (:func:`steady_ii`, :func:`same_ii`)."""

from __future__ import annotations

from collections import deque
from fractions import Fraction

from cocotb.triggers import Event

from .core import Beat

__all__ = ["Scoreboard", "steady_ii", "same_ii", "MAX_II_PERIOD"]

#: Longest repeating pattern of sequence starts looked for when the manifest gives no period.
MAX_II_PERIOD = 8


class Scoreboard:
    """Compares received beats with the expected ones, in order: exact codes per lane and ``tlast``.

    A beat with nothing left to expect is an error (duplicated or spurious); beats still expected
    at the end are lost. Counts mismatching *samples* and keeps the first mismatch's description.
    """

    def __init__(self):
        self.expected: deque[Beat] = deque()
        self.received = 0
        self.cycles: list[int] = []
        self.bad_samples: set[int] = set()
        self.checked_samples: set[int] = set()
        self.first_mismatch: str | None = None
        self.errors: list[str] = []
        self.done = Event()

    def expect(self, beats: list[Beat]):
        self.expected.extend(beats)
        self.done.clear()

    def _fail(self, sample, text):
        if sample is not None:
            self.bad_samples.add(sample)
        if self.first_mismatch is None:
            self.first_mismatch = text
        if len(self.errors) < 20:
            self.errors.append(text)

    def __call__(self, codes, last, cycle):
        self.received += 1
        self.cycles.append(cycle)
        if not self.expected:
            self._fail(None, f"unexpected output beat {codes} (tlast={int(last)}) at cycle {cycle}: "
                             "nothing more was expected (a duplicated or spurious beat)")
            return
        exp = self.expected.popleft()
        self.checked_samples.add(exp.sample)
        for lane, (e, g) in enumerate(zip(exp.codes, codes)):
            if e != g:
                self._fail(exp.sample, f"sample {exp.sample}, beat {exp.index}, lane {lane}: "
                                       f"expected {e}, got {g} (cycle {cycle}; expected beat "
                                       f"{exp.codes}, got {codes})")
                break
        else:
            if exp.last != last:
                self._fail(exp.sample, f"sample {exp.sample}, beat {exp.index}: tlast expected "
                                       f"{int(exp.last)}, got {int(last)} (cycle {cycle})")
        if not self.expected:
            self.done.set()

    def lost(self) -> str | None:
        if not self.expected:
            return None
        head = self.expected[0]
        return (f"{len(self.expected)} output beats never arrived, the first being sample "
                f"{head.sample}, beat {head.index} ({self.received} received)")

    @property
    def mismatches(self) -> int:
        return len(self.bad_samples)


def steady_ii(starts: list[int], period: int | None) -> tuple[Fraction, int]:
    """Cycles per sequence in steady state from the first-beat cycles ``starts``: the spacing
    averaged over the last whole ``period`` (interleaved cores start sequences in a pattern that
    repeats; the manifest's ``timing.ii`` is that average). Without a period, the shortest one
    whose pattern repeats three times at the end of ``starts`` is used."""
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    if period is None:
        period = next((p for p in range(1, MAX_II_PERIOD + 1) if 3 * p <= len(gaps) and
                       gaps[-p:] == gaps[-2 * p:-p] == gaps[-3 * p:-2 * p]), 1)
    return Fraction(starts[-1] - starts[-1 - period], period), period


def same_ii(measured: Fraction, manifest_ii) -> bool:
    """The manifest writes an integer II as is and a fractional one rounded to 3 decimals."""
    if measured.denominator == 1:
        return int(measured) == manifest_ii
    return abs(float(measured) - float(manifest_ii)) < 5e-4
