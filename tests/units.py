"""Drive a vector unit (ports ``i``, ``i_valid``, outputs valid with ``o_valid``) in the Amaranth
simulator: the test driver shared by the ActivationUnit and SoftmaxUnit tests (importable helper)."""

from __future__ import annotations

from amaranth.sim import Simulator


def _value(v, lanes):
    return v if isinstance(v, int) else [v[k] for k in range(lanes)]


def run_valid_unit(dut, vectors, rng, *, idle, outputs=("o",), quiet=(), garbage=(0, 5)):
    """Feed ``vectors`` to ``dut``, one per valid cycle, with an idle cycle (garbage on ``i``) with
    probability ``idle`` before each; return per result the values of ``outputs`` (lists of lanes,
    or ints), in order.

    Checks: every result comes exactly ``dut.latency`` cycles after its input; between results the
    ``outputs`` hold their values, except the ``quiet`` ones, which must be 0 then.
    """
    outs = []
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    lanes = dut.lanes

    async def testbench(ctx):
        sent, pending, cycle, held = [], list(vectors), 0, None
        while pending or (sent and cycle <= sent[-1] + dut.latency + 1):
            if pending and rng.random() >= idle:
                ctx.set(dut.i, pending.pop(0))
                ctx.set(dut.i_valid, 1)
                sent.append(cycle)
            else:
                ctx.set(dut.i_valid, 0)
                ctx.set(dut.i, [rng.randint(*garbage) for _ in range(lanes)])
            values = {name: _value(ctx.get(getattr(dut, name)), lanes) for name in outputs}
            kept = tuple(v for name, v in values.items() if name not in quiet)
            if ctx.get(dut.o_valid):
                outs.append((cycle, tuple(values.values())))
                held = kept
            else:
                assert all(values[name] == 0 for name in quiet), f"{quiet} without o_valid"
                if held is not None:
                    assert kept == held, "outputs changed without o_valid"
            await ctx.tick()
            cycle += 1
        assert [c for c, _ in outs] == [c + dut.latency for c in sent]

    sim.add_testbench(testbench)
    sim.run()
    return [values for _, values in outs]
