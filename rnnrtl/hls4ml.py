"""hls4ml compatibility, in one import: ``numerics: hls4ml`` and hls4ml configuration dicts.

The public names of :mod:`rnnrtl.numerics.hls4ml` (the profile: hls4ml 1.3's arithmetic, bit for
bit), :mod:`rnnrtl.numerics.hls4ml_numbers` (its weight codes and tables) and
:mod:`rnnrtl.numerics.hls4ml_config` (:func:`config_from_hls4ml`), gathered for users and scripts;
docs/hls4ml.md describes them.
"""

from .errors import HLS4MLConfigWarning
from .numerics.hls4ml import DENSE_ACTIVATIONS, RNN_ACTIVATIONS, SOFTMAX_KEYS, Hls4mlProfile
from .numerics.hls4ml_config import config_from_hls4ml, parse_hls4ml_precision
from .numerics.hls4ml_numbers import (HLS4ML_VERSION, SOFTMAX_TABLE_PRECISION, TABLE_PRECISION,
                                      TABLE_RANGES, TABLE_SIZE, softmax_table, table_contents,
                                      weight_codes)

__all__ = ["config_from_hls4ml", "parse_hls4ml_precision", "weight_codes", "table_contents",
           "softmax_table", "HLS4MLConfigWarning", "HLS4ML_VERSION", "Hls4mlProfile", "TABLE_RANGES",
           "TABLE_SIZE", "TABLE_PRECISION", "SOFTMAX_TABLE_PRECISION", "SOFTMAX_KEYS",
           "RNN_ACTIVATIONS", "DENSE_ACTIVATIONS"]
