"""``ActivationUnit``: requantize a vector of full-width codes, then apply an activation.

Each lane's input code (an :class:`~rnnrtl.fixed.IntType`) is requantized into ``fmt`` with
:func:`rnnrtl.fixed.requantize_value` (through the accumulator ``acc_fmt`` first when one is given:
:func:`rnnrtl.fixed.requantize_through_value`, ``numerics: hls4ml``); the result (``code``) goes
through the activation, exactly as
the emulator's ``_Layer.activation`` does for an :class:`rnnrtl.ir.Activation` (keep in sync):

* a table function (``sigmoid``, ``tanh``, ``hard_sigmoid``): ``table.contents[index]`` with
  ``index = table.geometry.index_value(code)`` (the IR's geometry: floor or, for hls4ml's tables,
  truncation toward zero); the contents, taken as they are from the IR, live in one ROM
  (:class:`amaranth.lib.memory.Memory`) with a synchronous read port per lane. The contents are
  emitted once; synthesis replicates the ROM for its read ports (two per true dual-port block
  RAM, or LUT ROMs when small).
* ``relu`` / ``linear`` (and ``softmax``, whose logits are requantized like ``linear``; the host
  applies the softmax): negatives zeroed for ``relu``, then requantized from ``fmt`` into the
  activation's ``out_fmt``.

Timing (:attr:`ActivationUnit.latency`):

* ``latency=0`` (``pipeline: fast``): all combinational, the table an asynchronous-read ROM (LUT
  ROMs in synthesis): ``o``, ``code`` and ``overflow`` follow ``i`` in the same cycle and are
  valid while ``i_valid`` is high (``o_valid = i_valid``); they are held only as long as ``i`` is.
  A table whose contents are a clipped ramp (:meth:`rnnrtl.activations.Table.ramp`: HGQ2's hard
  sigmoid and hard tanh) is that logic here, an adder and a clip per lane from the same index,
  not a ROM: a LUT ROM per lane of a 1,024-entry table cost 35 LUTs, the ramp 17 (yosys
  ``synth_xilinx -family xcup``, the HGQ2 GRU(5)'s tables).
* ``latency=1``: requantization and table index are combinational into the ROM's read
  address (or into the output register).
* ``latency=7``: the input is registered (cycle 1: whatever sum feeds it gets a cycle of
  its own), then the rounded value (cycle 2: :func:`rnnrtl.fixed.requantize_through_rounded`), the
  saturated code (cycle 3: :func:`rnnrtl.fixed.saturate_value`), its table index (cycle 4; the
  block RAM's address comes straight from a register, so the route to a far block RAM has the
  whole period), the table read (cycle 5), the table's output register (cycle 6, the block RAM's
  own on ECP5) and a fabric register after it (cycle 7: the route from the block RAM to its
  readers, the DSPs of a cell's products, has a cycle of its own). ``relu`` / ``linear`` take the
  same seven cycles: the output requantization's rounding (cycle 4) and its saturation (cycle 5)
  each get a stage. Nothing but one rounding, one saturation, one index computation or one table
  read lies between two registers.

Each lane's requantization (and ``relu`` / ``linear`` output) is a submodule of its own
(:mod:`rnnrtl.hw.activation_lane`): identical lanes are one Verilog module.

``o``, ``code`` and ``overflow`` belong to the same input and are valid with ``o_valid``, ``latency``
cycles after ``i_valid``; ``o`` and ``code`` are held until the next result.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..activations import PIECEWISE_FUNCTIONS, TABLE_FUNCTIONS, Table
from ..fixed import FixedFormat, IntType
from .activation_lane import OutputLane, RequantizeLane
from .common import COPY_LOADS, copy_groups, delay, fanout_tree, wire, wires

__all__ = ["ActivationUnit", "LATENCIES"]

#: The latencies an ActivationUnit is built with (module docstring, "Timing").
LATENCIES = (0, 1, 7)

#: Functions computed by requantization; ``softmax`` logits are requantized like ``linear``.
_REQUANT_FUNCTIONS = PIECEWISE_FUNCTIONS + ("softmax",)


def _shape(width: int, is_signed: bool):
    return signed(width) if is_signed else unsigned(width)


class ActivationUnit(wiring.Component):
    """``lanes`` activations of requantized codes, latency 1.

    Parameters (keyword-only)
    -------------------------
    in_type : IntType
        Type of each input lane (full width, ``in_type.frac`` fractional bits).
    fmt : FixedFormat
        Format the input is requantized into (the activation's input: ``activation.in_frac`` must
        equal ``fmt.frac_bits``).
    activation : rnnrtl.ir.Activation
        ``function``, ``in_frac``, ``out_fmt`` and, for table functions, ``table``.
    lanes : int >= 1
    acc_fmt : FixedFormat or None
        The accumulator the input passes through before ``fmt`` (hls4ml's ``accum_t``; the
        emulator's ``_Layer.accumulate``), or ``None``.
    latency : int, one of :data:`LATENCIES` (0, 1 or 7)
        0: combinational (module docstring).
        7: register the input, the rounded value, the saturated code, the table index (or the
        output's rounded value) and the table's output, twice (the ``activation`` count of
        :class:`~rnnrtl.hw.pipelining.Pipelining`).

    Ports
    -----
    i : ``In(ArrayLayout(in shape, lanes))``; i_valid : ``In(1)``;
    code : ``Out(ArrayLayout(fmt shape, lanes))``, the requantized input (registered, but at
    latency 0);
    o : ``Out(ArrayLayout(out_fmt shape, lanes))``; o_valid : ``Out(1)``;
    overflow : ``Out(1)``, with ``o_valid``: some lane was saturated or wrapped by a requantization
    (into ``acc_fmt`` or ``fmt``, or for ``relu``/``linear`` into ``out_fmt``).
    """

    def __init__(self, *, in_type, fmt, activation, lanes, acc_fmt=None, latency=1):
        if not isinstance(in_type, IntType):
            raise TypeError(f"in_type must be an rnnrtl.fixed.IntType, got {in_type!r}")
        if not isinstance(fmt, FixedFormat):
            raise TypeError(f"fmt must be an rnnrtl.fixed.FixedFormat, got {fmt!r}")
        if acc_fmt is not None and not isinstance(acc_fmt, FixedFormat):
            raise TypeError(f"acc_fmt must be an rnnrtl.fixed.FixedFormat or None, got {acc_fmt!r}")
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes {lanes!r} is out of range; valid: an integer >= 1")
        function = getattr(activation, "function", None)
        out_fmt = getattr(activation, "out_fmt", None)
        if function is None or not isinstance(out_fmt, FixedFormat):
            raise TypeError(f"activation must be an rnnrtl.ir.Activation, got {activation!r}")
        if activation.in_frac != fmt.frac_bits:
            raise ValueError(f"activation {function!r} takes codes with in_frac {activation.in_frac} "
                             f"fractional bits, but fmt {fmt} has {fmt.frac_bits}; they must be equal")
        table = activation.table
        if function in TABLE_FUNCTIONS:
            if not isinstance(table, Table):
                raise ValueError(f"activation {function!r} needs a Table, got {table!r}")
            if table.function != function:
                raise ValueError(f"activation {function!r} carries a {table.function!r} table")
            if table.out_fmt != out_fmt or table.in_frac != fmt.frac_bits:
                raise ValueError(f"table ({table.in_frac} input fractional bits, output {table.out_fmt}) "
                                 f"does not match the activation (input {fmt}, output {out_fmt})")
            contents = np.asarray(table.contents)
            if contents.shape != (table.geometry.size,):
                raise ValueError(f"table contents have shape {contents.shape}, expected "
                                 f"({table.geometry.size},)")
            lo, hi = int(contents.min()), int(contents.max())
            if lo < out_fmt.min_code or hi > out_fmt.max_code:
                # Amaranth would truncate the ROM init silently (with a warning only).
                raise ValueError(f"table contents span {lo}..{hi}, outside {out_fmt} "
                                 f"({out_fmt.min_code}..{out_fmt.max_code})")
        elif function in _REQUANT_FUNCTIONS:
            if table is not None:
                raise ValueError(f"activation {function!r} is a requantization and takes no table")
            if getattr(activation, "softmax", None) is not None:
                raise ValueError("a softmax with tables (numerics: hls4ml) is computed by "
                                 "rnnrtl.hw.softmax.SoftmaxUnit, not by an ActivationUnit")
        else:
            raise ValueError(f"unsupported activation {function!r}; valid: "
                             f"{', '.join(TABLE_FUNCTIONS + _REQUANT_FUNCTIONS)}")
        self._in_type = in_type
        self._fmt = fmt
        self._activation = activation
        self._lanes = lanes
        self._acc_fmt = acc_fmt
        if isinstance(latency, bool) or latency not in LATENCIES:
            raise ValueError(f"latency {latency!r} is not built; valid: "
                             f"{', '.join(map(str, LATENCIES))}")
        self._latency = latency
        self._registered = latency == 7   # every stage of the module docstring
        self._comb = latency == 0         # no stage at all
        super().__init__({
            "i": In(data.ArrayLayout(_shape(in_type.width, in_type.signed), lanes)),
            "i_valid": In(1),
            "code": Out(data.ArrayLayout(_shape(fmt.width, fmt.signed), lanes)),
            "o": Out(data.ArrayLayout(_shape(out_fmt.width, out_fmt.signed), lanes)),
            "o_valid": Out(1),
            "overflow": Out(1),
        })

    @property
    def function(self) -> str:
        """The activation function (``sigmoid``, ``relu``, …): the first part of the name a layer
        gives this unit in the hierarchy (e.g. ``sigmoid_gates``)."""
        return self._activation.function

    def instance_name(self, role: str) -> str:
        """``<function>_<role>``: the submodule name a layer gives this unit (Verilog module
        ``<top>.core.<layer>.<function>_<role>``)."""
        return f"{self.function}_{role}"

    @property
    def latency(self) -> int:
        """Cycles from ``i_valid`` to ``o_valid``: the ``latency`` it was built with."""
        return self._latency

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def fmt(self) -> FixedFormat:
        return self._fmt

    @property
    def out_fmt(self) -> FixedFormat:
        return self._activation.out_fmt

    @property
    def ramp(self):
        """The :class:`~rnnrtl.activations.Ramp` computed instead of the table's ROM (latency 0
        and a table that is one), else ``None``."""
        table = self._activation.table
        return table.ramp() if self._comb and table is not None else None

    @property
    def roms(self) -> int:
        """ROMs built: one (with a read port per lane) for a table function not computed as a
        :attr:`ramp`, else 0."""
        return 1 if self._activation.table is not None and self.ramp is None else 0

    def elaborate(self, platform):
        m = Module()
        act, fmt = self._activation, self._fmt
        lanes = range(self._lanes)
        i, i_valid = self.i, self.i_valid
        if self._registered:
            # Stage 1: the input in registers. Stages 1 to 4 load every cycle (no enable net over
            # all lanes); the valid flag travels beside them and only the output stage holds.
            i, i_valid = Signal.like(self.i, name="i_reg", reset_less=True), Signal(name="i_reg_valid")
            m.d.sync += [i.eq(self.i), i_valid.eq(self.i_valid)]
        overflows = []
        codes = []
        for lane in lanes:
            # The requantization, a unit per lane (rnnrtl.hw.activation_lane); registered: stage 2,
            # the rounded value (and the accumulator's overflow) in registers.
            m.submodules[f"requantize{lane}"] = unit = RequantizeLane(
                in_type=self._in_type, fmt=fmt, acc_fmt=self._acc_fmt, registered=self._registered)
            m.d.comb += unit.i.eq(i[lane])
            codes.append(unit.code)
            overflows.append(unit.over)
        if self._registered:
            # Stage 3: the saturated codes (and their overflow) in registers.
            code_reg = Signal.like(self.code, name="code_reg", reset_less=True)
            over_reg, valid = Signal(), Signal()
            m.d.sync += [code_reg[lane].eq(codes[lane]) for lane in lanes]
            m.d.sync += [over_reg.eq(_any(overflows)), valid.eq(delay(m, i_valid, 1, "rounded_valid"))]
            codes, overflows = [code_reg[lane] for lane in lanes], [over_reg]
        else:
            valid = self.i_valid

        # The table read or the output requantization, registered: ``out`` valid with ``out_valid``
        # (deep: a cycle later, after the table index or the output's rounded value in registers).
        out = Signal.like(self.o, name="out", reset_less=True) if self._registered else self.o
        if self._registered:
            # Stage 4's valid flag and the overflow so far, beside its index or rounded registers.
            rounded_valid, valid = valid, delay(m, valid, 1, "index_valid")
            overflows = [delay(m, over_reg, 1, "index_over")]
        if self._comb:
            return self._elaborate_comb(m, codes, overflows)
        out_valid = Signal()
        m.d.sync += out_valid.eq(valid)
        if act.table is not None:
            table = act.table
            out_shape = _shape(act.out_fmt.width, act.out_fmt.signed)
            init = [int(v) for v in table.contents]
            m.submodules.table = rom = Memory(shape=out_shape, depth=table.geometry.size, init=init)
            for lane in lanes:
                index = table.geometry.index_value(codes[lane])
                if self._registered:
                    # Stage 4: the index in a register that drives the address pins alone.
                    index_reg = Signal(len(index), name=f"index{lane}", reset_less=True)
                    m.d.sync += index_reg.eq(index)
                    index = index_reg
                port = rom.read_port(domain="sync")
                m.d.comb += [
                    port.addr.eq(index),
                    port.en.eq(1 if self._registered else valid),  # deep: the output stage holds
                    out[lane].eq(port.data),
                ]
        else:
            for lane, code in zip(lanes, codes):
                # deep: stage 4 holds the output's rounded value, stage 5 its saturation.
                value, over = self._output_lane(m, lane, code, self._registered)
                overflows.append(over)
                with m.If(1 if self._registered else valid):
                    m.d.sync += out[lane].eq(value)
        out_over = Signal()
        m.d.sync += out_over.eq(valid & _any(overflows))

        if self._registered:
            # Stage 6: the output, its code and overflow registered together.
            code_mid = delay(m, code_reg, 2, "code_mid", reset_less=True)
            # Without a reset, the table's output register can be the block RAM's own
            # (rnnrtl.synth.ecp5_pack on ECP5; vendor tools do the same).
            o_reg = Signal.like(self.o, name="o_reg", reset_less=True)
            code_out = Signal.like(self.code, name="code_out", reset_less=True)
            # Their enable is out_valid, from a copy per group of lanes, the leaves of a tree two
            # levels deep from stage 3's valid (fanout_tree): one flip-flop enabling every lane's
            # registers was the jet LSTM's critical route on ECP5, and so was one level of copies
            # from index_valid (6.8 ns). The output and the code go to different readers (a
            # product's DSP, a state register): a tree for each.
            for reg, value, role in ((o_reg, out, "o"), (code_out, code_mid, "code")):
                groups = copy_groups(self._lanes, COPY_LOADS // len(reg[0]))
                enables = fanout_tree(m, rounded_valid, groups[-1] + 1, f"{role}_enable",
                                      levels=2)
                for lane in lanes:
                    with m.If(enables[groups[lane]]):
                        m.d.sync += reg[lane].eq(value[lane])
            # Stage 7: the output once more, in fabric registers without an enable (holding as
            # stage 6 holds): the block RAM's output register and whatever reads the table (a
            # DSP's input register) may sit far apart, with a register between them.
            m.d.comb += [self.o.eq(delay(m, o_reg, 1, "o_far", reset_less=True)),
                         self.code.eq(delay(m, code_out, 1, "code_far", reset_less=True))]
            m.d.sync += [self.o_valid.eq(delay(m, out_valid, 1, "out_valid_far")),
                         self.overflow.eq(delay(m, out_over, 1, "out_over_far"))]
        else:
            with m.If(self.i_valid):
                m.d.sync += [self.code[lane].eq(code) for lane, code in zip(lanes, codes)]
            m.d.comb += [self.o_valid.eq(out_valid), self.overflow.eq(out_over)]
        return m

    def _output_lane(self, m, lane: int, code, registered: bool):
        """``(value, overflow)`` of lane ``lane``'s ``relu`` / ``linear`` output, from an
        :class:`~rnnrtl.hw.activation_lane.OutputLane` named ``output<lane>``."""
        m.submodules[f"output{lane}"] = unit = OutputLane(
            fmt=self._fmt, function=self._activation.function, out_fmt=self._activation.out_fmt,
            registered=registered)
        m.d.comb += unit.code.eq(code)
        return unit.o, unit.over

    def _elaborate_comb(self, m, codes, overflows):
        """Latency 0: the table read (an asynchronous ROM port per lane, or the table's ramp) or
        the output requantization, combinational from the requantized ``codes``."""
        act, fmt = self._activation, self._fmt
        ramp = self.ramp
        if ramp is not None:
            for lane, code in enumerate(codes):
                index = wire(m, act.table.geometry.index_value(code), f"index{lane}")
                m.d.comb += self.o[lane].eq(ramp.value(index, wires(m, f"lane{lane}")))
        elif act.table is not None:
            table = act.table
            out_shape = _shape(act.out_fmt.width, act.out_fmt.signed)
            m.submodules.table = rom = Memory(shape=out_shape, depth=table.geometry.size,
                                              init=[int(v) for v in table.contents])
            for lane, code in enumerate(codes):
                port = rom.read_port(domain="comb")
                m.d.comb += [port.addr.eq(table.geometry.index_value(code)),
                             self.o[lane].eq(port.data)]
        else:
            for lane, code in enumerate(codes):
                value, over = self._output_lane(m, lane, code, False)
                overflows.append(over)
                m.d.comb += self.o[lane].eq(value)
        m.d.comb += [self.code[lane].eq(code) for lane, code in enumerate(codes)]
        m.d.comb += [self.o_valid.eq(self.i_valid),
                     self.overflow.eq(self.i_valid & wire(m, _any(overflows), "out_over"))]
        return m


def _any(bits):
    """OR of ``bits`` as one reduction (a chain of ``|`` over hundreds of lanes is too deep for
    Amaranth's converters)."""
    return Cat(*bits).any() if bits else Const(0, 1)
