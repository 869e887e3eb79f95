# amaranth: UnusedElaboratable=no
# (timing reads the hardware components' figures; a design never written elaborates none)
"""``Design``: a quantized network, its configuration, and what can be done with it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import ir
from .config import load_config
from .emulator import EmulationResult, Emulator
from .errors import ConfigError, HardwareError, UnsupportedModelError
from .frontend import from_keras
from .hgq2_frontend import from_hgq2, is_hgq2_model
from .quantize import quantize

__all__ = ["Design", "convert", "load_design"]


class Design:
    """A network quantized for hardware.

    ``network`` is the IR (:class:`rnnrtl.ir.Network`); ``config`` the normalised configuration it
    was built with; ``weight_overflows`` counts weight values that did not fit their format and
    ``weight_underflows`` nonzero weight values that became 0 (smaller than their format's LSB),
    per tensor ``<layer>.<tensor>``.

    A model whose input has no fixed length (``keras.Input((None, F))``) is emulated at any length;
    what needs one (:attr:`timing`, :meth:`write`'s manifest and vectors, ``mode: unrolled``,
    ``interleave`` > 1) takes the configuration's ``timesteps`` (:attr:`timesteps`), and without it
    raises :class:`~rnnrtl.errors.ConfigError`. Static-mode hardware without ``interleave`` is the
    same circuit for every length (``tlast`` ends a sequence).
    """

    def __init__(self, network: ir.Network, *, weight_overflows: dict | None = None,
                 weight_underflows: dict | None = None):
        self.network = network
        self.config = network.config
        given = (network.config or {}).get("timesteps")
        if given is not None and network.timesteps is not None and given != network.timesteps:
            raise ConfigError(f"timesteps = {given}: model {network.name!r} has a fixed sequence "
                              f"length of {network.timesteps}; give timesteps {network.timesteps} or "
                              "none")
        self.weight_overflows = dict(weight_overflows or {})
        self.weight_underflows = dict(weight_underflows or {})
        self._emulator = Emulator(network)
        self.overflows: dict[str, int] = {}
        self._hardware = None
        self._timing = None

    @property
    def name(self) -> str:
        return self.network.name

    @property
    def timesteps(self) -> int | None:
        """The sequence length the hardware figures are for: the model's fixed length, else the
        configuration's ``timesteps``; ``None`` when neither gives one."""
        return self.network.timesteps or (self.config or {}).get("timesteps")

    def _need_timesteps(self, what: str) -> int:
        """:attr:`timesteps`, or a :class:`ConfigError` saying that ``what`` needs it."""
        if self.timesteps is None:
            raise ConfigError(
                f"model {self.name!r} has a variable sequence length (Keras input shape "
                f"[batch, None, {self.network.in_features}]); {what} needs a fixed one: give "
                "timesteps: N in the configuration (rnnrtl convert --timesteps N)")
        return self.timesteps

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

    def _check_length(self):
        """A :class:`ConfigError` if a layer's hardware needs a sequence length and none is known."""
        for layer in self.network.flat_layers:
            if getattr(layer, "go_backwards", False):
                self._need_timesteps(f"layer {layer.name!r} reading its sequence backwards "
                                     "(go_backwards, Bidirectional: it buffers the whole sequence)")
        for layer in self.network.layers:
            mode, slots = layer.schedule.mode, layer.schedule.interleave
            if isinstance(layer, ir.Dense) or (mode == "static" and layer.return_sequences):
                continue  # (static interleave with return_sequences: StaticLayer refuses it first)
            if mode == "unrolled" or slots > 1:
                what = "mode: unrolled" if mode == "unrolled" else f"interleave: {slots}"
                self._need_timesteps(f"layer {layer.name!r} with {what}")

    def hardware(self):
        """The Amaranth top (:class:`rnnrtl.hw.network.AXIStreamTop`) of this design, built once
        and shared by :attr:`timing` and :meth:`write` (each conversion elaborates it anew).

        Raises :class:`rnnrtl.errors.HardwareError` for a schedule the generator cannot build
        (the emulator, whose numbers never depend on the schedule, works for every setting)."""
        if self._hardware is None:
            from .hw.network import AXIStreamTop
            self._check_buildable()
            self._check_length()
            network = self.network
            if network.timesteps is None and self.timesteps is not None:
                # the hardware built for the configured length (only unrolled and interleaved
                # layers depend on it); the emulator keeps the model's variable length
                network = dataclasses.replace(network, timesteps=self.timesteps)
            self._hardware = AXIStreamTop(network)
        return self._hardware

    @property
    def timing(self):
        """Latency, II, cycles per step and multipliers, per layer and in total
        (:class:`rnnrtl.hw.timing.NetworkTiming`), known before any simulation: read from the
        components of :meth:`hardware`, for sequences of :attr:`timesteps` steps."""
        if self._timing is None:
            from .hw.timing import network_timing
            self._check_length()
            steps = self._need_timesteps("the timing (latency, II)")
            self._timing = network_timing(self.hardware().core, timesteps=steps)
        return self._timing

    def write(self, outdir, *, x=None, samples: int = 256, seed: int = 0, rtlil: bool = False,
              force: bool = False) -> dict:
        """Write ``<top>.v``, ``manifest.json`` and ``vectors.npz`` (and ``<top>.il`` with
        ``rtlil``; ``weights/*.hex`` with ``weights: file``) into ``outdir`` (see
        :func:`rnnrtl.writer.write_design`). A design too large to
        generate is refused first unless ``force`` (:func:`rnnrtl.budget.check`)."""
        from .budget import check
        from .writer import write_design
        check(self.network, timesteps=self.timesteps, force=force)
        return write_design(self, outdir, x=x, samples=samples, seed=seed, rtlil=rtlil)

    def save(self, path) -> tuple[Path, Path]:
        """Write the IR as ``<path>.json`` + ``<path>.npz`` (see :func:`load_design`)."""
        return ir.save(self.network, path, extra={"weight_overflows": self.weight_overflows,
                                                  "weight_underflows": self.weight_underflows})

    def __repr__(self):
        layers = ", ".join(f"{l.kind}:{l.name}({l.units})" for l in self.network.layers)
        return f"<Design {self.name}: {layers}>"


def convert(model, config=None, input_shape=None) -> Design:
    """Quantize a model into a :class:`Design`: a Keras model (``keras.Model`` or a
    ``.keras``/``.h5`` path), or a PyTorch one (an ``nn.Module`` with
    ``input_shape=(timesteps, features)``, a ``torch.export`` program or its ``.pt2`` file; see
    :mod:`rnnrtl.torch_frontend`; an ``nn.Module`` with Brevitas layers is read by
    :mod:`rnnrtl.brevitas_frontend`).

    ``config`` is ``None`` (defaults), a dict, or a path to a YAML/JSON file; see
    :mod:`rnnrtl.config`.
    """
    from .brevitas_frontend import from_brevitas, is_brevitas_model
    from .torch_frontend import from_torch, is_torch_model
    cfg = load_config(config)
    if is_brevitas_model(model):   # quantization-aware Brevitas layers: numerics: brevitas
        float_model = from_brevitas(model, input_shape)
    elif is_torch_model(model):
        float_model = from_torch(model, input_shape).float_model
    elif input_shape is not None:
        raise UnsupportedModelError("input_shape is for a PyTorch module; a Keras model carries "
                                    "its own input shape")
    elif is_hgq2_model(model):     # quantization-aware HGQ2 layers: numerics: hgq2
        float_model = from_hgq2(model)
    else:
        float_model = from_keras(model)
    network, report = quantize(float_model, cfg)
    return Design(network, weight_overflows=report.overflows, weight_underflows=report.underflows)


def load_design(path) -> Design:
    """A design saved with :meth:`Design.save`."""
    extra = ir.load_extra(path)
    return Design(ir.load(path), weight_overflows=extra.get("weight_overflows"),
                  weight_underflows=extra.get("weight_underflows"))
