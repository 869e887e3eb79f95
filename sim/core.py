"""The core under test as its ``manifest.json`` and ``vectors.npz`` describe it, and the clock.

:class:`Settings` reads the environment (``RNNRTL_*``, see :mod:`testbench`), :class:`Core` the
manifest, the vectors and the DUT's handles by the manifest's names; :class:`LaneCodec` packs and
unpacks a ``tdata`` word from the manifest's bit map of its lanes; :class:`Beat` is one beat of a
stream. The clock has period :data:`PERIOD_NS` and starts high at time 0 (:func:`cycle_now`,
:func:`at_falling_edge`). Imports numpy and cocotb only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cocotb.simtime import get_sim_time

__all__ = ["PERIOD_NS", "Settings", "LaneCodec", "Beat", "Core", "cycle_now", "at_falling_edge"]

PERIOD_NS = 10

@dataclass
class Settings:
    """What the environment asks for (see the module docstring)."""
    outdir: Path
    samples: int | None
    seed: int
    idle: float
    backpressure: float
    results: Path | None

    @classmethod
    def from_env(cls) -> "Settings":
        outdir = os.environ.get("RNNRTL_OUTDIR")
        if not outdir:
            raise RuntimeError("set RNNRTL_OUTDIR to the design directory (manifest.json, vectors.npz)")
        samples = os.environ.get("RNNRTL_SAMPLES")
        results = os.environ.get("RNNRTL_RESULTS")
        settings = cls(outdir=Path(outdir), samples=int(samples) if samples else None,
                       seed=int(os.environ.get("RNNRTL_SEED", "0")),
                       idle=float(os.environ.get("RNNRTL_IDLE", "0.3")),
                       backpressure=float(os.environ.get("RNNRTL_BACKPRESSURE", "0.3")),
                       results=Path(results) if results else None)
        for name in ("idle", "backpressure"):
            p = getattr(settings, name)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"RNNRTL_{name.upper()} = {p}: a probability in [0, 1)")
        return settings


class LaneCodec:
    """Packs lane codes into a ``tdata`` word and unpacks (sign-extending) from the manifest's map."""

    def __init__(self, stream: dict):
        self.width = stream["tdata_width"]
        self.lanes = [(lane["lsb"], lane["width"], bool(lane["signed"])) for lane in stream["lanes"]]
        for lsb, width, _ in self.lanes:
            if lsb + width > self.width:
                raise ValueError(f"lane at bits [{lsb}, {lsb + width}) exceeds tdata width {self.width}")

    def __len__(self):
        return len(self.lanes)

    def pack(self, codes) -> int:
        word = 0
        for k, ((lsb, width, signed), code) in enumerate(zip(self.lanes, codes, strict=True)):
            code = int(code)
            lo, hi = (-(1 << width - 1), 1 << width - 1) if signed else (0, 1 << width)
            if not lo <= code < hi:
                raise ValueError(f"lane {k}: code {code} does not fit {width} bits "
                                 f"({'signed' if signed else 'unsigned'})")
            word |= (code & ((1 << width) - 1)) << lsb
        return word

    def unpack(self, word: int) -> list[int]:
        out = []
        for lsb, width, signed in self.lanes:
            v = (word >> lsb) & ((1 << width) - 1)
            if signed and v >> (width - 1):
                v -= 1 << width
            out.append(v)
        return out


@dataclass
class Beat:
    """One beat of a stream: lane codes, ``tlast``, and where it belongs (sample, beat index)."""
    sample: int
    index: int
    codes: list
    last: bool


class Core:
    """The manifest, the vectors and the DUT's handles, named as the manifest says."""

    def __init__(self, dut, settings: Settings):
        self.dut = dut
        self.settings = settings
        self.manifest = json.loads((settings.outdir / "manifest.json").read_text())
        m = self.manifest
        vectors = np.load(settings.outdir / m["vectors"]["file"])
        self.x_codes, self.y_codes = vectors["x_codes"], vectors["y_codes"]
        self.in_codec, self.out_codec = LaneCodec(m["input"]), LaneCodec(m["output"])
        self.in_beats = m["input"]["beats_per_sequence"]
        self.out_beats = m["output"]["beats_per_sequence"]
        # x_codes is [samples, T, F]; with input per_beat "sequence" one beat holds all T x F
        # codes step-major: the same array, reshaped row-major to the manifest's beats and lanes.
        if self.x_codes.ndim != 3 or \
                self.x_codes[0].size != self.in_beats * len(self.in_codec):
            raise ValueError(f"x_codes shape {self.x_codes.shape} does not match the manifest "
                             f"({self.in_beats} beats of {len(self.in_codec)} lanes)")
        self.x_codes = self.x_codes.reshape(len(self.x_codes), self.in_beats, len(self.in_codec))
        if self.y_codes.shape[1:] != (self.out_beats, len(self.out_codec)):
            raise ValueError(f"y_codes shape {self.y_codes.shape} does not match the manifest "
                             f"({self.out_beats} beats of {len(self.out_codec)} lanes)")
        self.samples = len(self.x_codes)
        self.clk = getattr(dut, m["clock"]["name"])
        self.rst = getattr(dut, m["reset"]["name"])
        self.rst_active = 1 if m["reset"]["active"] == "high" else 0
        self.latency = m["timing"]["latency"]
        self.ii = m["timing"]["ii"]
        self.s_axis = self._port(m["input"])
        self.m_axis = self._port(m["output"])

    def _port(self, stream):
        prefix = stream["interface"]
        return {"data": getattr(self.dut, stream["tdata"]),
                "valid": getattr(self.dut, f"{prefix}_tvalid"),
                "ready": getattr(self.dut, f"{prefix}_tready"),
                "last": getattr(self.dut, f"{prefix}_tlast")}

    def input_beats(self, samples) -> list[Beat]:
        return [Beat(s, t, self.x_codes[s, t].tolist(), t == self.in_beats - 1)
                for s in samples for t in range(self.in_beats)]

    def expected_beats(self, samples) -> list[Beat]:
        return [Beat(s, b, self.y_codes[s, b].tolist(), b == self.out_beats - 1)
                for s in samples for b in range(self.out_beats)]

    def seq_cycles(self) -> int:
        """A generous bound on cycles per sequence at full rate."""
        return max(self.ii, self.in_beats, self.out_beats, 1)


def cycle_now() -> int:
    """Index of the next rising edge when called between a falling edge and that rising edge."""
    return int(get_sim_time("ns")) // PERIOD_NS + 1


def at_falling_edge() -> bool:
    """True in the time step of a falling clock edge (the clock starts high at time 0)."""
    return get_sim_time("ns") % PERIOD_NS == PERIOD_NS / 2
