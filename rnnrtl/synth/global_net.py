"""A high-fanout signal of a board build on the device's global network.

Contract: :func:`global_net` returns a signal equal to its input (combinationally), through the
platform's global buffer where it has one that reaches fabric inputs, so that place and route
distributes it like a clock; elsewhere (simulation, other families) the input itself.
"""

from amaranth.hdl import Const, Instance, Signal

__all__ = ["global_net"]


def global_net(m, value, platform, name: str):
    """``value`` (one bit) on the device's global network where the platform has one that reaches
    fabric inputs (ECP5: through a ``DCCA`` clock buffer, which nextpnr routes on a global that
    reaches every slice's LSR and CE), else ``value`` itself.

    For a signal read by every register of a large core, such as its reset: on the ECP5-85F one
    flip-flop's route to every LSR across the device took 11.3 ns (81.9 MHz at a 150 MHz clock);
    the global network reaches every slice in about the same few nanoseconds."""
    if getattr(platform, "family", None) != "ecp5":
        return value
    out = Signal(name=name)
    m.submodules[f"{name}_buffer"] = Instance("DCCA", i_CLKI=value, i_CE=Const(1), o_CLKO=out)
    return out
