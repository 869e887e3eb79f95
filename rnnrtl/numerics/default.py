"""``numerics: default``: rnnrtl's own arithmetic (docs/numerics.md).

Exact sums of exact products; every named point rounds (``RND``) and saturates (``SAT``) into its
format by default; weights are rounded once into their format; tables are sampled at the centre of
their bins and indexed with floor.
"""

from __future__ import annotations

from ..activations import TABLE_FUNCTIONS, Table, TableGeometry
from ..fixed import FixedFormat
from ..ir import GRU, LSTM, Activation, Dense, SimpleRNN
from .profile import Profile

__all__ = ["DefaultProfile", "PRECISION_KEYS", "DEFAULT_PRECISION", "DEFAULT_ACTIVATION_PRECISION"]

#: Tensors whose format can be set, per layer kind.
PRECISION_KEYS = {
    "input": ("result",),
    "dense": ("weight", "bias", "accum", "activation", "result"),
    "simplernn": ("weight", "recurrent_weight", "bias", "accum", "activation", "result"),
    "lstm": ("weight", "recurrent_weight", "bias", "accum", "activation", "state", "result"),
    "gru": ("weight", "recurrent_weight", "bias", "recurrent_bias", "accum", "activation",
            "recurrent", "result"),
    # the merge of a Bidirectional's two directions (its ``out`` point; each direction has its own)
    "bidirectional": ("result",),
}
DEFAULT_PRECISION = "fixed<16,6>"
#: Table outputs of bounded activations, independent of the precision default: a 16-bit table output
#: with 6 integer bits throws away precision sigmoid and tanh never use.
DEFAULT_ACTIVATION_PRECISION = "fixed<18,2>"


class DefaultProfile(Profile):
    """rnnrtl's own arithmetic (docs/numerics.md)."""
    name = "default"
    precision_keys = PRECISION_KEYS
    default_precision = DEFAULT_PRECISION
    own_precision = {"activation": None}   # chosen by the activation function (_activation)

    def weight_codes(self, values, fmt):
        return fmt.quantize(values)

    def table(self, function, in_fmt, out_fmt, cfg, where):
        spec = cfg.tables[function]
        geometry = TableGeometry.for_range(size=spec["size"], half_range=spec["range"],
                                           in_frac=in_fmt.frac_bits)
        table = Table(function, in_fmt.frac_bits, geometry, out_fmt)
        return Activation(function, in_fmt.frac_bits, out_fmt, table)

    def _activation(self, function: str, in_fmt: FixedFormat, cfg, unbounded_fmt: FixedFormat,
                    where: str) -> Activation:
        """An activation of ``function`` on codes of ``in_fmt``.

        Tables output the layer's ``activation`` format (default ``fixed<18,2>``); ``relu``/``linear``
        output it too if set, else ``unbounded_fmt``; ``softmax`` passes the logits through unchanged.
        """
        act_fmt = cfg.fmt("activation")
        if function in TABLE_FUNCTIONS:
            out_fmt = act_fmt or FixedFormat.parse(DEFAULT_ACTIVATION_PRECISION)
            return self.table(function, in_fmt, out_fmt, cfg, where)
        if function == "softmax":
            return Activation(function, in_fmt.frac_bits, in_fmt)
        return Activation(function, in_fmt.frac_bits, act_fmt or unbounded_fmt)

    def build_layer(self, layer, cfg, *, in_fmt, schedule, weights, sublayers):
        fl, where = layer, f"layers.{layer.name}"
        common = dict(name=fl.name, in_features=fl.in_features, units=fl.units, input_fmt=in_fmt,
                      output_fmt=cfg.fmt("result"), schedule=schedule,
                      kernel=weights("kernel", cfg.fmt("weight")), bias=weights("bias", cfg.fmt("bias")))
        act = lambda fn, fmt, unbounded: self._activation(fn, fmt, cfg, unbounded, where)  # noqa: E731
        if fl.kind == "dense":
            pre = cfg.fmt("accum")
            return Dense(**common, pre_fmt=pre, activation=act(fl.activation, pre, cfg.fmt("result")))
        common.update(recurrent=weights("recurrent_kernel", cfg.fmt("recurrent_weight")),
                      return_sequences=fl.return_sequences)
        if fl.kind == "simplernn":
            pre = cfg.fmt("accum")
            return SimpleRNN(**common, pre_fmt=pre, activation=act(fl.activation, pre, cfg.fmt("result")))
        gate = cfg.fmt("accum")
        if fl.kind == "lstm":
            state = cfg.fmt("state")
            return LSTM(**common, gate_fmt=gate,
                        recurrent_activation=act(fl.recurrent_activation, gate, gate),
                        activation=act(fl.activation, gate, gate), state_fmt=state,
                        state_activation=act(fl.activation, state, state))
        return GRU(**common, recurrent_bias=weights("recurrent_bias", cfg.fmt("recurrent_bias")),
                   reset_after=fl.reset_after, gate_fmt=gate,
                   recurrent_activation=act(fl.recurrent_activation, gate, gate),
                   activation=act(fl.activation, gate, gate), rec_fmt=cfg.fmt("recurrent"))
