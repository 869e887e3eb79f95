# amaranth: UnusedElaboratable=no
# (timing reads the hardware components' figures; a design never written elaborates none)
"""``Design``: a quantized network, its configuration, and what can be done with it."""

from __future__ import annotations

from pathlib import Path

from . import ir
from .config import load_config
from .emulator import EmulationResult, Emulator
from .errors import HardwareError
from .frontend import from_keras
from .quantize import quantize

__all__ = ["Design", "convert", "load_design"]


class Design:
    """A network quantized for hardware.

    ``network`` is the IR (:class:`rnnrtl.ir.Network`); ``config`` the normalised configuration it
    was built with; ``weight_overflows`` counts weight values that did not fit their format.
    """

    def __init__(self, network: ir.Network, *, weight_overflows: dict | None = None):
        self.network = network
        self.config = network.config
        self.weight_overflows = dict(weight_overflows or {})
        self._emulator = Emulator(network)
        self.overflows: dict[str, int] = {}
        self._hardware = None
        self._timing = None

    @property
    def name(self) -> str:
        return self.network.name

    def run(self, x, *, trace: bool = False, warn: bool = True) -> EmulationResult:
        """Emulate a batch ``x`` (floats ``[batch, timesteps, features]``); the full result."""
        result = self._emulator.run(x, trace=trace, warn=warn)
        self.overflows = result.overflows
        return result

    def emulate(self, x, *, trace: bool = False):
        """Emulate ``x`` bit-accurately; returns float outputs, or ``(outputs, trace)`` with
        ``trace=True`` (named point -> integer codes, time axis second). Overflows of the run are
        in :attr:`overflows` and reported with a :class:`FixedPointOverflowWarning`."""
        result = self.run(x, trace=trace)
        return (result.y, result.trace) if trace else result.y

    # -- hardware ----------------------------------------------------------------------------------

    def _check_buildable(self):
        for layer in self.network.layers:
            if getattr(layer, "product_fmt", None) is not None and isinstance(layer, ir.GRU) \
                    and not layer.reset_after:
                # (numerics: hls4ml refuses this layer; only a hand-made IR gets here)
                raise HardwareError(
                    f"layer {layer.name!r}: GRU(reset_after=False) with per-product casts "
                    "(product_fmt) has no hardware generator; use reset_after=True")

    def hardware(self):
        """The Amaranth top (:class:`rnnrtl.hw.network.AXIStreamTop`) of this design, built once
        and shared by :attr:`timing` and :meth:`write` (each conversion elaborates it anew).

        Raises :class:`rnnrtl.errors.HardwareError` for a schedule the generator cannot build
        (the emulator, whose numbers never depend on the schedule, works for every setting)."""
        if self._hardware is None:
            from .hw.network import AXIStreamTop
            self._check_buildable()
            self._hardware = AXIStreamTop(self.network)
        return self._hardware

    @property
    def timing(self):
        """Latency, II, cycles per step and multipliers, per layer and in total
        (:class:`rnnrtl.hw.timing.NetworkTiming`), known before any simulation: read from the
        components of :meth:`hardware`."""
        if self._timing is None:
            from .hw.timing import network_timing
            self._timing = network_timing(self.hardware().core)
        return self._timing

    def write(self, outdir, *, x=None, samples: int = 256, seed: int = 0, rtlil: bool = False,
              force: bool = False) -> dict:
        """Write ``<top>.v``, ``manifest.json`` and ``vectors.npz`` (and ``<top>.il`` with
        ``rtlil``) into ``outdir`` (see :func:`rnnrtl.writer.write_design`). A design too large to
        generate is refused first unless ``force`` (:func:`rnnrtl.budget.check`)."""
        from .budget import check
        from .writer import write_design
        check(self.network, force=force)
        return write_design(self, outdir, x=x, samples=samples, seed=seed, rtlil=rtlil)

    def save(self, path) -> tuple[Path, Path]:
        """Write the IR as ``<path>.json`` + ``<path>.npz`` (see :func:`load_design`)."""
        return ir.save(self.network, path, extra={"weight_overflows": self.weight_overflows})

    def __repr__(self):
        layers = ", ".join(f"{l.kind}:{l.name}({l.units})" for l in self.network.layers)
        return f"<Design {self.name}: {layers}>"


def convert(model, config=None) -> Design:
    """Quantize a Keras model (``keras.Model`` or a ``.keras``/``.h5`` path) into a :class:`Design`.

    ``config`` is ``None`` (defaults), a dict, or a path to a YAML/JSON file; see
    :mod:`rnnrtl.config`.
    """
    cfg = load_config(config)
    float_model = from_keras(model)
    network, report = quantize(float_model, cfg)
    return Design(network, weight_overflows=report)


def load_design(path) -> Design:
    """A design saved with :meth:`Design.save`."""
    return Design(ir.load(path), weight_overflows=ir.load_extra(path).get("weight_overflows"))
