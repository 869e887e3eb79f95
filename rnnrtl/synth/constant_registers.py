"""A yosys pass, ``fold_constant_registers``, that finds every pipeline register bit yosys's
``opt`` loop would prove constant, in one analysis instead of one loop iteration per stage.

Why: ``opt_dff`` replaces a flip-flop by its D input only once D is a constant, and ``opt_expr``
carries that constant one register stage further; so a constant that travels through N register
stages takes N iterations of ``opt``, each over the whole netlist. alkaid's jet-size GRU (85
pipeline stages, 839,522 register bits, many of them constant bits carried from stage to stage)
took 42 s an iteration, and ``synth_xilinx``'s prepare step had not finished after two hours.

What it does, on the top module of a flattened design (run after ``proc`` and ``flatten``):

1. In a saved copy of the design, every plain ``$dff`` whose Q has no ``init`` is replaced by a
   connection Q = D (the register made a wire), then ``opt_expr`` folds the constants through
   the now combinational netlist (in topological order: one pass reaches its fixed point) and
   ``opt_clean`` leaves every constant wire bit connected to its constant.
2. Back in the design as it was, each such register bit whose Q came out 0 or 1 gets that constant
   as its D. The ``opt`` that follows in ``synth_xilinx`` then removes all of them in one
   iteration.

Contract: the netlist at the end of the synthesis is the one yosys's own loop reaches, only
sooner. A register bit is folded only where its value after the pipeline has filled does not
depend on the inputs or on its undefined initial value, which is what ``opt_dff`` assumes of a
register without ``init`` when it folds one whose D is constant. Registers with ``init`` or
``keep`` (which yosys 0.70's ``opt_dff`` folds all the same), enables, resets or of other cell
types are left to yosys: their Q is a free value in the analysis, which can only find fewer
constants. ``x`` results are left to yosys too.

Runs only in the native yosys (``pyosys``): :func:`register` adds the pass to the process that
:func:`rnnrtl.synth.yosys.main` runs a script in. Log line: ``fold_constant_registers: N of M
register bits constant``.
"""

from __future__ import annotations

__all__ = ["PASS", "register"]

#: The pass's name in a yosys script.
PASS = "fold_constant_registers"

_SAVED = "rnnrtl_fold_constant_registers"

_registered = None


def register():
    """Add :data:`PASS` to this process's yosys (pyosys), once; returns the pass object (held
    here as well: yosys keeps a pointer to it)."""
    global _registered
    if _registered is not None:
        return _registered
    from pyosys import libyosys as ys

    class FoldConstantRegisters(ys.Pass):
        def __init__(self):
            super().__init__(PASS, "fold pipeline register bits that are constant (rnnrtl)")

        def help(self):
            ys.log(__doc__ + "\n")

        def execute(self, args, design):
            ys.log_header(design, "Executing FOLD_CONSTANT_REGISTERS pass.\n")
            folded, total = fold(ys, design)
            ys.log(f"{PASS}: {folded} of {total} register bits constant\n")

    _registered = FoldConstantRegisters()
    return _registered


def fold(ys, design) -> tuple[int, int]:
    """Step 1 and 2 of the module docstring on ``design``'s top module; returns (register bits
    given a constant D, register bits considered)."""
    ID = ys.IdString
    module = design.top_module()
    if module is None:
        return 0, 0
    init, q_port, d_port = ID("\\init"), ID("\\Q"), ID("\\D")
    registers = {}          # cell name -> Q bits as (wire name, offset)
    for cell in module.cells_.values():
        if cell.type.str() != "$dff" or cell.has_keep_attr():
            continue
        q = cell.getPort(q_port)
        if any(b.wire is None or b.wire.has_attribute(init) for b in q.bits()):
            continue
        registers[cell.name.str()] = [(b.wire.name.str(), b.offset) for b in q.bits()]
    if not registers:
        return 0, 0

    ys.run_pass(f"design -save {_SAVED}", design)
    module = design.top_module()
    for name in registers:
        cell = module.cell(ID(name))
        q, d = cell.getPort(q_port), cell.getPort(d_port)
        module.remove(cell)
        module.connect(q, d)
    ys.run_pass("opt_expr", design)
    ys.run_pass("opt_clean", design)
    constant = {}
    for lhs, rhs in design.top_module().connections():
        for lb, rb in zip(lhs.bits(), rhs.bits()):
            if lb.wire is not None and rb.wire is None and rb.data in (ys.State.S0, ys.State.S1):
                constant[(lb.wire.name.str(), lb.offset)] = rb.data
    ys.run_pass(f"design -load {_SAVED}", design)
    ys.run_pass(f"design -delete {_SAVED}", design)

    module = design.top_module()
    folded = 0
    for name, q_bits in registers.items():
        found = [constant.get(key) for key in q_bits]
        known = sum(s is not None for s in found)
        if not known:
            continue
        cell = module.cell(ID(name))
        d = cell.getPort(d_port)
        new_d = ys.SigSpec()
        for bit, s in zip(d.bits(), found):
            new_d.append(bit if s is None else ys.SigBit(s))
        cell.setPort(d_port, new_d)
        folded += known
    return folded, sum(len(q) for q in registers.values())
