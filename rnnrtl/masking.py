"""Masking: which time steps of an input sequence are *masked*, and the rule both consumers follow.

Keras' ``Masking(mask_value=v)`` marks a time step whose features all equal ``v``; every recurrent
layer then leaves its state unchanged on that step, and a ``return_sequences`` layer repeats its
previous output there (zeros before the first unmasked step). Dense layers (and
``TimeDistributed(Dense)``) compute every step as usual and pass the mask on; a recurrent layer
with ``return_sequences=False`` ends it (its output is the state after the last unmasked step).

The hardware sees quantized codes, not floats, so rnnrtl recognises a masked step **by its input
codes**: a step is masked when every feature's code equals :func:`mask_code` (``v`` in the input
format). ``v`` must be exactly representable in the input format (else :func:`mask_code` refuses
it, naming it), so quantization maps a feature equal to ``v`` onto that exact code: every step
Keras masks is masked here too. The one difference: a step whose features are all within half an
LSB of ``v`` (or all overflow onto its code) is masked here, not in Keras. The emulator
(:func:`masked_steps`) and the hardware (the first recurrent layer compares the codes of each
input beat, :mod:`rnnrtl.hw.masking`) follow this same rule, so they agree bit for bit; the manifest
(``input.masking``) tells a user how to mark a masked step: send every lane as ``mask_code``.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, UnsupportedModelError
from .fixed import FixedFormat

__all__ = ["mask_code", "masked_steps", "check_masking", "check_layers", "pad_randomly",
           "manifest_entry", "MASKABLE"]

#: Layer kinds (``layer.kind`` of the IR) that honour a mask: Dense computes masked steps as usual
#: and passes the mask on; the recurrent ones keep their state.
MASKABLE = ("dense", "simplernn", "lstm", "gru")


def mask_code(mask_value: float, input_fmt: FixedFormat, *, where: str = "Masking") -> int:
    """The code of ``mask_value`` in ``input_fmt``; :class:`ConfigError` if it has none exactly
    (not a multiple of the format's LSB, or out of its range)."""
    value = float(mask_value)
    scaled = np.ldexp(value, input_fmt.frac_bits) if np.isfinite(value) else np.nan
    code = int(scaled) if np.isfinite(scaled) and float(scaled).is_integer() else None
    if code is None or not input_fmt.min_code <= code <= input_fmt.max_code:
        lo, hi = input_fmt.to_float(input_fmt.min_code), input_fmt.to_float(input_fmt.max_code)
        raise ConfigError(
            f"{where}: mask_value={value!r} is not exactly representable in the input format "
            f"{input_fmt} (multiples of {input_fmt.step:g} from {lo:g} to {hi:g}); a masked step is "
            "recognised by its input codes, so the mask value needs a code of its own: give the "
            "input a format that holds it (precision of the input layer), or retrain with "
            "mask_value 0")
    return code


def masked_steps(codes: np.ndarray, code: int | None) -> np.ndarray | None:
    """``[batch, timesteps]`` booleans: steps whose every feature code equals ``code`` (``codes``
    ``[batch, timesteps, features]``); ``None`` when there is no mask (``code`` is ``None``)."""
    if code is None:
        return None
    return np.all(np.asarray(codes) == code, axis=-1)


def check_masking(mask_value: float | None, input_fmt: FixedFormat, numerics: str,
                  layer_name: str = "Masking") -> None:
    """Refuse a Masking the quantized network cannot honour: a mask value without an exact input
    code (:func:`mask_code`), or a profile that has no masking (``numerics: hls4ml``: hls4ml 1.3
    has no Masking layer)."""
    if mask_value is None:
        return
    where = f"layer {layer_name!r} (Masking)"
    if numerics != "default":
        raise ConfigError(f"numerics: {numerics}: {where} is not supported (hls4ml has no Masking "
                          "layer, so there is nothing to be bit-identical to); use numerics: default")
    mask_code(mask_value, input_fmt, where=where)


def check_layers(layers, mask_value) -> None:
    """Refuse a layer the mask reaches (up to the first recurrent layer with
    ``return_sequences=False``) whose kind has no masking here (not in :data:`MASKABLE`), by name:
    it would otherwise ignore the mask silently."""
    if mask_value is None:
        return
    for layer in layers:
        if getattr(layer, "go_backwards", False):
            raise UnsupportedModelError(
                f"layer {layer.name!r} (go_backwards) after a Masking layer is not supported: a "
                "layer reading backwards would need the mask reversed with its input; remove "
                "the Masking or go_backwards")
        if layer.kind not in MASKABLE:
            raise UnsupportedModelError(
                f"layer {layer.name!r} ({layer.kind}) after a Masking layer is not supported: it "
                f"has no masked steps; layers a mask reaches: {', '.join(MASKABLE)}")
        if layer.kind != "dense" and not layer.return_sequences:
            return


def pad_randomly(x: np.ndarray, mask_value: float, rng: np.random.Generator) -> np.ndarray:
    """Test sequences for a masked model: ``x`` (``[batch, timesteps, features]``) with masked
    steps (every feature ``mask_value``) as variable-length data has them. Sample ``k``: ``k mod 3
    == 0`` keeps its first ``n`` steps (``n`` random, 1 .. timesteps) and is padded after them;
    ``1``, the same with one more masked step among the kept ones (from the second step on);
    ``2`` is not padded."""
    x = np.array(x, dtype=np.float64)
    steps = x.shape[1]
    for k in range(len(x)):
        if k % 3 == 2:
            continue
        n = int(rng.integers(1, steps + 1))
        x[k, n:] = mask_value
        if k % 3 == 1 and n > 1:
            x[k, int(rng.integers(1, n))] = mask_value
    return x


def manifest_entry(mask_value: float, code: int) -> dict:
    """The manifest's ``input.masking``: how a user marks a masked step on the input stream."""
    return {"mask_value": mask_value, "mask_code": code,
            "how": "a time step is masked (Keras Masking) when every lane of its input beat holds "
                   "mask_code (mask_value in the input format); send padding steps as such beats, "
                   "tlast on the sequence's last beat as usual. A masked step keeps every recurrent "
                   "layer's state, costs the cycles of any other step, and repeats the previous "
                   "output beat (zeros before the first unmasked step) where the output is a "
                   "sequence"}
