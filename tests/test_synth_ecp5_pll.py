# amaranth: UnusedElaboratable=no
"""rnnrtl.synth.ecp5_pll: EHXPLLL dividers checked against the ECP5 PLL's arithmetic and limits
written out here (and against a plain search of every divider), refusals naming the option, and
the UART board top running on the PLL's clock."""

import math

import pytest

from rnnrtl.errors import ConfigError
from rnnrtl.platforms import UARTBoardTop, ULX3S85FPlatform
from rnnrtl.synth.ecp5_pll import ECP5PLL, pll_setting
from rnnrtl.synth.uart_bridge import UARTBridge

MHZ = 1e6

#: Board tops elaborated here by hand leave submodules unused (platforms/ has no opt-out
#: comment); Amaranth warns of them when they are collected, in whichever test that is.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def _legal(f_in, clki, clkfb, clkop):
    """The data sheet's limits (FPGA-DS-02012) and the dividers' ranges, for CLKOP feedback."""
    pfd = f_in / clki
    out = pfd * clkfb
    return (1 <= clki <= 128 and 1 <= clkfb <= 80 and 1 <= clkop <= 128
            and 10 * MHZ <= pfd <= 400 * MHZ and 8 * MHZ <= out <= 400 * MHZ
            and 400 * MHZ <= out * clkop <= 800 * MHZ)


def _closest(f_in, want):
    """The smallest error any legal setting reaches, by trying every divider."""
    return min(abs(f_in / clki * clkfb - want)
               for clki in range(1, 129) if 10 * MHZ <= f_in / clki <= 400 * MHZ
               for clkfb in range(1, 81)
               for clkop in range(1, 129) if _legal(f_in, clki, clkfb, clkop))


@pytest.mark.parametrize("f_in, want", [
    (25, 150), (25, 100), (25, 162.5), (25, 200), (25, 50), (25, 12.5), (25, 400), (25, 151),
    (100, 133.3), (12, 96), (48, 60)])
def test_setting_makes_the_clock_within_the_limits(f_in, want):
    f_in, want = f_in * MHZ, want * MHZ
    s = pll_setting(f_in, want)
    assert _legal(f_in, s.clki_div, s.clkfb_div, s.clkop_div)
    out = f_in / s.clki_div * s.clkfb_div
    assert math.isclose(s.f_out_hz, out) and math.isclose(s.vco_hz, out * s.clkop_div)
    assert abs(out - want) <= 0.01 * want
    assert math.isclose(abs(out - want), _closest(f_in, want), abs_tol=1e-3)   # none is closer


def test_setting_parameters_are_the_primitives():
    s = pll_setting(25 * MHZ, 150 * MHZ)
    p = s.parameters()
    assert 25 / p["CLKI_DIV"] * p["CLKFB_DIV"] == 150
    assert p["FEEDBK_PATH"] == "CLKOP" and p["CLKOP_ENABLE"] == "ENABLED"
    assert p["CLKOP_CPHASE"] == p["CLKOP_DIV"] - 1 and p["CLKOP_FPHASE"] == 0
    assert s.attributes()["FREQUENCY_PIN_CLKI"] == "25"
    assert s.attributes()["FREQUENCY_PIN_CLKOP"] == "150"


@pytest.mark.parametrize("want, fragments", [
    (140 * MHZ, ["cannot make it from the board's 25 MHz within 1%", "137.5 MHz or 150 MHz",
                 "steps of 12.5 MHz"]),
    (48 * MHZ, ["nearest: 37.5 MHz or 50 MHz"]),
    (500 * MHZ, ["outside the ECP5 PLL's output range 8 - 400 MHz"]),
    (5 * MHZ, ["outside the ECP5 PLL's output range 8 - 400 MHz"]),
    (0.0, ["a finite number > 0"]), (-150 * MHZ, ["a finite number > 0"]),
    (float("nan"), ["a finite number > 0"]), (float("inf"), ["a finite number > 0"]),
    (True, ["a finite number > 0"]), ("150", ["a finite number > 0"]),
])
def test_setting_refuses_what_the_pll_cannot_make(want, fragments):
    with pytest.raises(ConfigError, match="^--clock-mhz ") as e:
        pll_setting(25 * MHZ, want, option="--clock-mhz")
    for fragment in fragments:
        assert fragment in str(e.value)


def test_setting_tolerance_and_board_clocks():
    assert pll_setting(25 * MHZ, 140 * MHZ, tolerance=0.02).f_out_hz == 137.5 * MHZ
    with pytest.raises(ConfigError, match="input clock must be 8 - 400 MHz; the board's is 4 MHz"):
        pll_setting(4 * MHZ, 150 * MHZ)
    with pytest.raises(ConfigError, match="phase detector needs 10 - 400 MHz"):
        pll_setting(8 * MHZ, 150 * MHZ)          # an input, but below the phase detector's range


def test_board_top_runs_the_bridge_on_the_pll_clock():
    """The bridge's baud divisor and frame timeout are counted in the PLL's clock."""
    pll = ECP5PLL(pll_setting(25 * MHZ, 150 * MHZ))
    core = _AXISCore()
    m = UARTBoardTop(core, baud=115200, clock=pll).elaborate(ULX3S85FPlatform())
    bridge = m.submodules.bridge
    assert isinstance(bridge, UARTBridge) and m.submodules.clock is pll
    assert bridge.divisor == round(150e6 / 115200) and bridge.timeout == int(150e6 / 4)
    plain = UARTBoardTop(_AXISCore(), baud=115200).elaborate(ULX3S85FPlatform())
    assert plain.submodules.bridge.divisor == round(25e6 / 115200)


def test_board_resets_on_the_global_network():
    """The board's reset (the PLL's lock, synchronised) reaches the bridge through a DCCA buffer,
    as the bridge's core reset does: two globals besides the clock."""
    import re

    from test_synth_uart_bridge import ToyCore
    top = UARTBoardTop(ToyCore(), baud=115200, clock=ECP5PLL(pll_setting(25 * MHZ, 150 * MHZ)))
    text = ULX3S85FPlatform().prepare(top, name="top").files["top.il"]
    cells = [(m.group(1), m.group(2), dict(re.findall(r"connect \\(\S+) (\S+)", m.group(3))))
             for m in re.finditer(r"  cell (\S+) (\S+)\n((?:    .*\n)*)  end", text)]
    buffers = {name: ports for kind, name, ports in cells if kind == "\\DCCA"}
    assert set(buffers) == {"\\pll_reset_global_buffer", "\\core_rst_global_buffer"}
    pll = buffers["\\pll_reset_global_buffer"]
    [sync] = [p for kind, name, p in cells if name == "\\reset_sync"]
    assert sync["stage1"] == pll["CLKI"]                  # from the synchroniser's last stage
    [bridge] = [p for kind, name, p in cells if name == "\\bridge"]
    assert bridge["rst"] == pll["CLKO"]


def test_pll_refuses_another_board_clock():
    class Board50(ULX3S85FPlatform):
        default_clk_frequency = 50e6
    with pytest.raises(ConfigError, match="for a 25 MHz input; this board's clock is 50 MHz"):
        ECP5PLL(pll_setting(25 * MHZ, 150 * MHZ)).elaborate(Board50())


class _AXISCore:
    """Just the port widths a UARTBridge reads from a core."""
    def __init__(self):
        from amaranth.hdl import Signal
        self.s_axis_tdata = Signal(16)
        self.m_axis_tdata = Signal(8)
