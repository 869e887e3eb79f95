"""Every error a user can cause, under one base: :class:`RnnrtlError`.

The command line catches :class:`RnnrtlError` and prints its message as one line (exit status 2);
any other exception is an internal bug and keeps its traceback. Each class also derives from the
builtin it refines (``ValueError`` for bad input, ``RuntimeError`` for a tool that failed), so
``except ValueError`` in older user code still works.
"""

from __future__ import annotations

__all__ = ["RnnrtlError", "ConfigError", "FixedPointError", "UnsupportedModelError", "FlowError",
           "HardwareError", "DesignTooLargeError", "BuildError", "SimulationError", "RnnrtlWarning",
           "FixedPointOverflowWarning", "WeightUnderflowWarning", "ConfigWarning",
           "HLS4MLConfigWarning"]


class RnnrtlError(Exception):
    """Base of every error a user can fix; the message names the input, what is wrong and what
    is valid."""


class ConfigError(RnnrtlError, ValueError):
    """A configuration key, value or combination rnnrtl cannot use."""


class FixedPointError(RnnrtlError, ValueError):
    """A fixed-point format that cannot be parsed or represented."""


class UnsupportedModelError(RnnrtlError, ValueError):
    """A model, layer or layer option rnnrtl does not support (or a model file it refuses to
    load); the message names the layer and the option."""


class FlowError(RnnrtlError, ValueError):
    """Input the flow cannot use (a data file, a design directory); the message says what to do."""


class HardwareError(RnnrtlError, ValueError):
    """A schedule the hardware generator cannot build; the message says why and what works."""


class DesignTooLargeError(HardwareError):
    """A design whose hardware would take too long or too much memory to generate
    (:mod:`rnnrtl.budget`); the message names the estimate, the limit and the knob that brings it
    down. ``force=True`` (``--force``) writes it anyway."""


class BuildError(RnnrtlError, RuntimeError):
    """A build step failed; the message names the step, its folder and the tool's complaint."""


class SimulationError(RnnrtlError, RuntimeError):
    """The simulator could not be built or run (not a mismatch: those are in the summary)."""


class RnnrtlWarning(UserWarning):
    """Base of rnnrtl's warnings."""


class FixedPointOverflowWarning(RnnrtlWarning):
    """Values saturated or wrapped at a named point during emulation."""


class WeightUnderflowWarning(RnnrtlWarning):
    """Nonzero weights or biases that quantized to 0: their format's LSB is larger than they are."""


class ConfigWarning(RnnrtlWarning):
    """A configuration setting rnnrtl changed to one that works (the message says which and why)."""


class HLS4MLConfigWarning(RnnrtlWarning):
    """An hls4ml configuration key accepted but not honoured, or changed to what hls4ml does."""
