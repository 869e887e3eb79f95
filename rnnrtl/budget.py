"""What writing a design's hardware will cost, estimated from the IR before any is built.

Generating Verilog elaborates every weight, multiplier and state register of the design in Python
(Amaranth), so :meth:`rnnrtl.Design.write` grows with the hardware: an ``LSTM(2000)`` holds 16
million weights and would need terabytes, an unrolled layer is ``T`` cells, each interleave slot
its own state, input queue and multiplexer inputs. :func:`estimate` reads the IR's sizes alone (in
milliseconds, whatever the size) and :func:`check` refuses a design beyond :data:`LIMIT_SECONDS`
or :data:`LIMIT_MB` with a :class:`~rnnrtl.errors.DesignTooLargeError` naming the estimate, the
limit and the knob that brings it down (``force=True`` / ``--force`` writes it anyway).

**Cost model.** A design's *cost units* are, per layer,

* the products of its weight matrices (:func:`rnnrtl.schedule.matrix_units`: one per weight) and
  its other multipliers (a cell's elementwise products, a table softmax's), times
  :data:`UNROLLED_WEIGHT` · ``T`` for an unrolled layer (one cell per step, each with its own
  pipeline registers);
* plus :data:`SLOT_UNITS` · ``K²`` for an interleaved static layer (``K`` slots, each with state,
  queue and a ``K``-way multiplexer).

The write takes about ``FIXED_SECONDS + SECONDS_PER_UNIT · units`` seconds and
``FIXED_MB + MB_PER_UNIT · units`` MB of memory above the process's own. The reuse factor hardly
changes it: at reuse 1 each weight is a constant multiplier, at reuse R > 1 an entry of a
multiplier's weight ROM, and both cost about the same to generate (reuse 4 as much as reuse 1,
reuse 32 about 60 % of its memory, measured below). So what brings a large static design down is
fewer weights (smaller layers), and a large reuse factor a little; for an unrolled one, mode
``static``; for an interleaved one, a smaller ``interleave``.

**Calibration** (``scripts/measure_write.py``: one fresh process each, ``Design.write`` of
``Input((T, 8)) -> layer -> Dense(1, sigmoid)`` with 8 random vectors, this 2-core machine with a
load average of 5-9 from other jobs; Dec 2026), and larger writes measured earlier:

=========================================  =======  =========  ========  ==========  =========
design                                     units    measured   peak MB   estimate s  est. MB
=========================================  =======  =========  ========  ==========  =========
LSTM(8) T=8 reuse 1                        544      18 s       96        13          94
LSTM(8) T=8 reuse 1 interleave 8           550      16 s       99        14          95
LSTM(8) T=4 reuse 1 unrolled               4 296    118 s      359       51          470
LSTM(32) T=8 reuse 1                       5 248    95 s       579       60          565
LSTM(32) T=8 reuse 4                       5 248    140 s      573       60          565
LSTM(32) T=8 reuse 32                      5 248    82 s       357       60          565
jet LSTM(20) 20x6 reuse 40 (bench_synth)   3 484    ~20 s      —         43          388
LSTM(128) 100x3 (bench_synth, VU9P fit)    ~101 k   ~14 min    —         17 min      10.0 GB
issue 17: interleave 250 on an LSTM(4)     ~6 450   105 s      —         73          685
=========================================  =======  =========  ========  ==========  =========

Since requantizations became named wires (issue 18) writes are about 4x faster and a third
smaller in memory; the time constants were refitted on the same script, load average ~2:
LSTM(8) T=8 reuse 1: 3.1 s / 54 MB; LSTM(8) T=4 unrolled: 11.0 s / 180 MB; LSTM(32) T=8
reuse 1: 18.4 s / 362 MB; reuse 4: 22.3 s / 432 MB (the memory constants were kept: they now
overestimate by 1.3-2.6x, on the safe side). The table above is the earlier generator's.

The estimate is meant to be right within a factor of 3 (tests/test_budget.py checks that on
small designs), enough to tell a minute from an hour. The limits leave the project's largest
benchmark (the LSTM(128), about 6 min estimated) writable and refuse what issue 17 found running away:
``LSTM(2000)`` at reuse 1 (6.4 GB after 73 s, still writing), unrolled ``T = 200`` (5.5 GB after
300 s), ``interleave: 1000`` (past 10 min).

**Interleave.** A static layer's slots share one loop: a slot's next step starts ``D`` cycles
(:attr:`~rnnrtl.hw.static.StaticLayer.step_cycles`) after its previous one and jobs start at most
every ``J`` cycles (:attr:`~rnnrtl.hw.static.StaticLayer.job_spacing`), so the layer's II can never
fall below ``T · J`` cycles per sequence, and ``ceil(D / J)`` slots nearly reach that floor (the
slots' start pattern leaves a few per cent, e.g. an LSTM(4), ``D = 8``, ``J = 1``, ``T = 8``: II
64, 32, …, 8.25 at K = 1, 2, …, 8, then 9 at K = 9-11 and 8 from K = 12). Twice as many slots
reach the floor in every case measured, so :func:`check` refuses an ``interleave`` beyond
``2 · ceil(D / J)`` (:func:`useful_interleave`), ``force`` or not: more slots only add hardware
(the issue's ``interleave: 1000`` ran for over 10 minutes for nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import DesignTooLargeError, HardwareError
from .schedule import elementwise_multipliers, elementwise_products, matrix_units, multipliers

__all__ = ["Estimate", "estimate", "check", "useful_interleave", "LIMIT_MB", "LIMIT_SECONDS"]

#: Estimated write time (seconds) beyond which :func:`check` refuses a design (without ``force``).
LIMIT_SECONDS = 20 * 60
#: Estimated peak memory (MB) beyond which :func:`check` refuses a design (without ``force``).
LIMIT_MB = 12 * 1024

#: Calibration constants (the module docstring's table).
FIXED_SECONDS = 1.5
SECONDS_PER_UNIT = 0.0035
FIXED_MB = 40.0
MB_PER_UNIT = 0.10
#: Cost of an unrolled layer's weight relative to a static one's (the measured unrolled LSTM(8)).
UNROLLED_WEIGHT = 2.0
#: Cost units per interleaved layer, times ``K²`` (issue 17: K = 250 on an LSTM(4) took 105 s).
SLOT_UNITS = 0.1


@dataclass(frozen=True)
class Estimate:
    """The estimated cost of writing a design (see the module docstring for the model).

    ``weights``: weights of all matrices as built (unrolled layers ``T`` times);
    ``multipliers``: multipliers as built; ``per_layer``: cost units per layer name; ``largest``:
    the layer that costs most; ``knob``: what would bring its cost down, as a sentence."""
    weights: int
    multipliers: int
    units: float
    seconds: float
    memory_mb: float
    per_layer: dict
    largest: str
    knob: str

    def __str__(self):
        return (f"about {_duration(self.seconds)} and {_size(self.memory_mb)} of memory "
                f"({self.weights:,} weights, {self.multipliers:,} multipliers)")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.0f} h"


def _size(mb: float) -> str:
    return f"{mb:.0f} MB" if mb < 1024 else f"{mb / 1024:,.1f} GB"


def _knob(layer, timesteps) -> str:
    s = layer.schedule
    if layer.kind != "dense" and s.mode == "unrolled":
        return (f"use mode 'static' for it (unrolled builds one cell per time step, {timesteps} "
                "here)")
    if layer.kind != "dense" and s.interleave > 1:
        return f"lower its interleave (now {s.interleave})"
    return ("make it smaller (generation cost grows with its weights: a weight costs about as "
            "much as a constant multiplier at reuse 1 as in a weight ROM at reuse R; a large "
            "reuse factor saves a little memory)")


def _units(layer, timesteps) -> tuple[int, int, float]:
    """``(weights, multipliers, cost units)`` of one IR layer."""
    # (unrolled without a fixed length: counted once; the hardware generator refuses it, saying why)
    unrolled = layer.kind != "dense" and layer.schedule.mode == "unrolled" and bool(timesteps)
    copies = timesteps if unrolled else 1
    scale = UNROLLED_WEIGHT if unrolled else 1.0
    mults = multipliers(layer, timesteps or 1)
    units = matrix_units(layer)
    weights = sum(u.products for u in units) * copies
    # every product outside the matrices is elaborated, a multiplier or adders in the fabric
    others = mults - sum(u.multipliers for u in units) * copies \
        + (elementwise_products(layer) - elementwise_multipliers(layer)) * copies
    K = layer.schedule.interleave if layer.kind != "dense" and not unrolled else 1
    return weights, mults, scale * (weights + others) + (SLOT_UNITS * K * K if K > 1 else 0.0)


def estimate(network, timesteps: int | None = None) -> Estimate:
    """The cost of generating ``network``'s hardware (an IR :class:`rnnrtl.ir.Network`), from
    its sizes and schedules alone; ``timesteps`` for a network without a fixed length
    (:attr:`rnnrtl.Design.timesteps`)."""
    T = network.timesteps or timesteps
    per_layer, weights, mults = {}, 0, 0
    for layer in network.flat_layers:
        w, m, units = _units(layer, T)
        per_layer[layer.name] = units
        weights += w
        mults += m
    units = sum(per_layer.values())
    largest = max(per_layer, key=per_layer.get)
    layer = next(l for l in network.flat_layers if l.name == largest)
    return Estimate(weights=weights, multipliers=mults, units=units,
                    seconds=FIXED_SECONDS + SECONDS_PER_UNIT * units,
                    memory_mb=FIXED_MB + MB_PER_UNIT * units, per_layer=per_layer,
                    largest=largest, knob=_knob(layer, T))


def _over(units: float) -> bool:
    return (FIXED_SECONDS + SECONDS_PER_UNIT * units > LIMIT_SECONDS
            or FIXED_MB + MB_PER_UNIT * units > LIMIT_MB)


def useful_interleave(layer) -> tuple[int, int, int]:
    """``(2 · ceil(D / J), D, J)``: the most interleave slots that can still lower static
    ``layer``'s II, from its step cycles ``D`` and job spacing ``J`` (see the module docstring). Builds the layer's cell (not elaborated): call it on a design that passed
    the size check."""
    from .hw.cells import cell_of
    from .hw.pipelining import Pipelining
    cell = cell_of(layer, pipelining=Pipelining.of(layer.schedule),
                   tree_fanin=layer.schedule.adder_fanin, results_held=False)
    return 2 * math.ceil(cell.step_cycles / cell.job_spacing), cell.step_cycles, cell.job_spacing


def check(network, *, timesteps: int | None = None, force: bool = False) -> Estimate:
    """Refuse ``network`` before its hardware is built: a static layer whose ``interleave``
    exceeds :func:`useful_interleave` (:class:`~rnnrtl.errors.HardwareError`, always), or a
    design whose :func:`estimate` exceeds :data:`LIMIT_SECONDS` or :data:`LIMIT_MB`
    (:class:`~rnnrtl.errors.DesignTooLargeError`, unless ``force``). Returns the estimate."""
    est = estimate(network, timesteps)
    for layer in network.flat_layers:
        s = layer.schedule
        if layer.kind == "dense" or s.mode != "static" or s.interleave == 1:
            continue
        if _over(est.per_layer[layer.name] - SLOT_UNITS * s.interleave ** 2):
            continue        # too large even without its slots: refused below, cell not built
        useful, D, J = useful_interleave(layer)
        if s.interleave > useful:
            raise HardwareError(
                f"layer {layer.name!r}: interleave {s.interleave} gains nothing over {useful}: a "
                f"step takes {D} cycles and a job may start every {J}, so {math.ceil(D / J)} "
                f"sequences in flight nearly fill the loop and {useful} fill it; use interleave "
                f"1..{useful}")
    if not force and _over(est.units):
        raise DesignTooLargeError(
            f"design {network.name!r}: writing its hardware would take {est}, beyond the limit "
            f"of {_duration(LIMIT_SECONDS)} / {_size(LIMIT_MB)} (rnnrtl.budget); layer "
            f"{est.largest!r} costs most: {est.knob}; or pass --force (API: force=True) to "
            "write it anyway")
    return est
