"""rnnrtl: Keras LSTM / GRU networks to bit-exact fixed-point FPGA circuits, generated with Amaranth.

Typical use::

    import rnnrtl
    design = rnnrtl.convert("model.keras", {"precision": "fixed<16,6>", "reuse": 2})
    y = design.emulate(x)          # exactly the integers the hardware computes
"""

from .design import Design, convert, load_design
from .errors import (BuildError, ConfigError, FixedPointError, FixedPointOverflowWarning, FlowError,
                     HardwareError, RnnrtlError, SimulationError, UnsupportedModelError)
from .fixed import FixedFormat
from .version import __version__

__all__ = ["convert", "load_design", "Design", "FixedFormat", "RnnrtlError", "ConfigError",
           "FixedPointError", "UnsupportedModelError", "FlowError", "HardwareError", "BuildError",
           "SimulationError", "FixedPointOverflowWarning"]
