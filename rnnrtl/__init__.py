"""rnnrtl: Keras LSTM / GRU networks to bit-exact fixed-point FPGA circuits, generated with Amaranth.

Typical use::

    import rnnrtl
    design = rnnrtl.convert("model.keras", {"precision": "fixed<16,6>", "reuse": 2})
    y = design.emulate(x)          # exactly the integers the hardware computes
"""

from .config import ConfigError
from .design import Design, convert, load_design
from .emulator import FixedPointOverflowWarning
from .fixed import FixedFormat, FixedPointError
from .frontend import UnsupportedModelError

__all__ = ["convert", "load_design", "Design", "FixedFormat", "ConfigError", "FixedPointError",
           "UnsupportedModelError", "FixedPointOverflowWarning"]
__version__ = "0.1.0"
