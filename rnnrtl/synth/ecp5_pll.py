"""The ECP5 PLL (``EHXPLLL``): dividers for a requested clock, and a clock domain made by it.

Contract: :func:`pll_setting` finds ``CLKI_DIV``, ``CLKFB_DIV`` and ``CLKOP_DIV`` that make
``f_out`` from ``f_in`` within ``tolerance``, every internal frequency within the limits below,
and returns the achieved frequency in a :class:`PLLSetting`; when none does it raises
:class:`~rnnrtl.errors.ConfigError` naming the option and what can be made instead.
:class:`ECP5PLL` puts one setting on a board: the platform's default clock feeds the PLL only,
``CLKOP`` drives the clock domain (``sync`` by default), held in reset until the PLL's ``LOCK``.

The feedback path is ``CLKOP`` (``FEEDBK_PATH "CLKOP"``, ``CLKFB`` wired to ``CLKOP``), as
prjtrellis's ``ecppll`` writes it::

    f_pfd = f_in / CLKI_DIV          phase detector
    f_out = f_pfd * CLKFB_DIV        CLKOP, fed back through CLKFB_DIV
    f_vco = f_out * CLKOP_DIV        CLKOP_DIV only places the VCO in its range

so ``f_out`` is a whole multiple of ``f_pfd``: from the ULX3S's 25 MHz, multiples of 12.5 MHz
(``f_pfd`` 25 or 12.5 MHz, the only ones of at least 10 MHz). nextpnr-ecp5 derives the output's
timing constraint from the input's with the same three dividers ("Derived frequency constraint"
in its log).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from amaranth.hdl import (ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal,
                          Signal)
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from ..errors import ConfigError
from .global_net import global_net

__all__ = ["INPUT_HZ", "OUTPUT_HZ", "PFD_HZ", "VCO_HZ", "CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV",
           "PLLSetting", "pll_setting", "ECP5PLL"]

# Limits: the ECP5 and ECP5-5G data sheet (FPGA-DS-02012, "sysCLOCK PLL Timing"), as Lattice
# TN1263 / FPGA-TN-02200 uses them and LiteX's ECP5PLL has them; inclusive (min, max).
#: Input clock (CLKI, and CLKFB: with CLKOP feedback the output is also an input, see OUTPUT_HZ).
INPUT_HZ = (8e6, 400e6)
#: Output clock: the data sheet's CLKOP range is 3.125 - 400 MHz, but CLKOP is CLKFB's input too,
#: so its lower bound is the input's 8 MHz.
OUTPUT_HZ = (8e6, 400e6)
#: Phase detector input (f_in / CLKI_DIV). prjtrellis's ecppll allows 3.125 MHz; the data sheet
#: says 10 MHz, which is kept.
PFD_HZ = (10e6, 400e6)
#: VCO.
VCO_HZ = (400e6, 800e6)
#: Divider ranges (Lattice FPGA Libraries Reference Guide; ecppll searches the same).
CLKI_DIV = (1, 128)
CLKFB_DIV = (1, 80)
CLKOP_DIV = (1, 128)

#: The VCO frequency preferred among equally close settings (the middle of its range, as ecppll).
_VCO_MID = Fraction(600_000_000)

#: Loop filter and charge pump attributes, as ecppll writes them for CLKOP feedback; nextpnr-ecp5
#: copies them into the bitstream (0, a dead loop filter, when absent).
_LOOP_ATTRS = {"ICP_CURRENT": "12", "LPF_RESISTOR": "8", "MFG_ENABLE_FILTEROPAMP": "1",
               "MFG_GMCREF_SEL": "2"}


def _mhz(hz) -> str:
    return f"{float(hz) / 1e6:g}"


@dataclass(frozen=True)
class PLLSetting:
    """One ``EHXPLLL`` setting: the input frequency and the three dividers (everything else
    follows from them)."""
    f_in_hz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def pfd_hz(self) -> float:
        return self.f_in_hz / self.clki_div

    @property
    def f_out_hz(self) -> float:
        """The achieved CLKOP frequency."""
        return self.f_in_hz * self.clkfb_div / self.clki_div

    @property
    def vco_hz(self) -> float:
        return self.f_out_hz * self.clkop_div

    @property
    def clkop_cphase(self) -> int:
        """CLKOP's coarse phase in VCO cycles: ``CLKOP_DIV - 1`` is Lattice's 0° (what its IP
        generator and LiteX write). ecppll writes half a CLKOP period; in the feedback path the
        loop aligns CLKOP with CLKI either way."""
        return self.clkop_div - 1

    def parameters(self) -> dict:
        """The ``EHXPLLL`` parameters (names as the primitive has them)."""
        return {"PLLRST_ENA": "DISABLED", "INTFB_WAKE": "DISABLED", "STDBY_ENABLE": "DISABLED",
                "DPHASE_SOURCE": "DISABLED", "OUTDIVIDER_MUXA": "DIVA", "OUTDIVIDER_MUXB": "DIVB",
                "OUTDIVIDER_MUXC": "DIVC", "OUTDIVIDER_MUXD": "DIVD",
                "CLKI_DIV": self.clki_div, "CLKFB_DIV": self.clkfb_div,
                "CLKOP_DIV": self.clkop_div, "CLKOP_ENABLE": "ENABLED",
                "CLKOP_CPHASE": self.clkop_cphase, "CLKOP_FPHASE": 0, "FEEDBK_PATH": "CLKOP"}

    def attributes(self) -> dict:
        """The cell's attributes: the frequencies in MHz (for Lattice's tools; nextpnr derives
        its own) and the loop filter settings nextpnr writes into the bitstream."""
        return {"FREQUENCY_PIN_CLKI": _mhz(self.f_in_hz),
                "FREQUENCY_PIN_CLKOP": _mhz(self.f_out_hz), **_LOOP_ATTRS}

    def describe(self) -> str:
        return (f"{_mhz(self.f_out_hz)} MHz = {_mhz(self.f_in_hz)} MHz / {self.clki_div} "
                f"* {self.clkfb_div} (VCO {_mhz(self.vco_hz)} MHz, CLKOP_DIV {self.clkop_div})")


def _within(value, limits) -> bool:
    return limits[0] <= value <= limits[1]


def _settings(f_in: Fraction):
    """Every legal setting for input ``f_in`` (Hz, exact): ``(f_out, vco, clki, clkfb, clkop)``."""
    for clki in range(CLKI_DIV[0], CLKI_DIV[1] + 1):
        pfd = f_in / clki
        if not _within(pfd, PFD_HZ):
            continue
        for clkfb in range(CLKFB_DIV[0], CLKFB_DIV[1] + 1):
            f_out = pfd * clkfb
            if not _within(f_out, OUTPUT_HZ):
                continue
            lowest = max(CLKOP_DIV[0], math.ceil(VCO_HZ[0] / f_out))
            for clkop in range(lowest, CLKOP_DIV[1] + 1):
                if f_out * clkop > VCO_HZ[1]:
                    break
                if _within(f_out * clkop, VCO_HZ):
                    yield f_out, f_out * clkop, clki, clkfb, clkop


def pll_setting(f_in_hz: float, f_out_hz: float, *, tolerance: float = 0.01,
                option: str = "clock_mhz") -> PLLSetting:
    """The ``EHXPLLL`` setting whose CLKOP is closest to ``f_out_hz`` (then: VCO nearest 600 MHz,
    then the highest phase detector frequency), if it is within ``tolerance`` (relative).

    Raises :class:`~rnnrtl.errors.ConfigError` naming ``option`` when ``f_out_hz`` is not a
    positive number, lies outside :data:`OUTPUT_HZ`, or no setting comes within ``tolerance`` (the
    message gives the nearest frequencies that can be made); ``f_in_hz`` outside :data:`INPUT_HZ`
    is refused too (a board whose clock cannot feed the PLL)."""
    if not isinstance(f_out_hz, (int, float)) or isinstance(f_out_hz, bool) \
            or not math.isfinite(f_out_hz) or f_out_hz <= 0:
        raise ConfigError(f"{option} {f_out_hz!r}: give a clock frequency, a finite number > 0")
    if not _within(f_in_hz, INPUT_HZ):
        raise ConfigError(f"the ECP5 PLL's input clock must be {_mhz(INPUT_HZ[0])} - "
                          f"{_mhz(INPUT_HZ[1])} MHz; the board's is {_mhz(f_in_hz)} MHz")
    if not _within(f_out_hz, OUTPUT_HZ):
        raise ConfigError(f"{option} {_mhz(f_out_hz)} MHz is outside the ECP5 PLL's output range "
                          f"{_mhz(OUTPUT_HZ[0])} - {_mhz(OUTPUT_HZ[1])} MHz")
    f_in, want = Fraction(f_in_hz), Fraction(f_out_hz)
    settings = list(_settings(f_in))
    if not settings:
        raise ConfigError(f"the board's {_mhz(f_in_hz)} MHz clock cannot feed the ECP5 PLL (its "
                          f"phase detector needs {_mhz(PFD_HZ[0])} - {_mhz(PFD_HZ[1])} MHz)")
    best = min(settings, key=lambda s: (abs(s[0] - want), abs(s[1] - _VCO_MID), s[2]))
    if abs(best[0] - want) > want * Fraction(tolerance):
        made = sorted({s[0] for s in settings})
        below = [f for f in made if f < want][-1:]
        above = [f for f in made if f > want][:1]
        nearest = " or ".join(f"{_mhz(f)} MHz" for f in below + above)
        steps = {b - a for a, b in zip(made, made[1:])}
        spacing = (f"in steps of {_mhz(min(steps))} MHz" if len(steps) == 1
                   else f"at least {_mhz(min(steps))} MHz apart")
        raise ConfigError(f"{option} {_mhz(f_out_hz)} MHz: the ECP5 PLL cannot make it from the "
                          f"board's {_mhz(f_in_hz)} MHz within {tolerance:.0%}; nearest: {nearest} "
                          f"(it makes {_mhz(made[0])} - {_mhz(made[-1])} MHz, {spacing})")
    return PLLSetting(f_in_hz, *best[2:])


class ECP5PLL(Elaboratable):
    """The clock and reset of domain ``domain`` (which the parent defines, as Amaranth 0.6 will
    require) from an ``EHXPLLL`` of ``setting``: the platform's default clock
    (``platform.default_clk``, whose frequency must be ``setting.f_in_hz``) feeds the PLL and
    nothing else; the domain's reset is held from power-up until the PLL's ``LOCK`` rises
    (released synchronously, :class:`~amaranth.lib.cdc.ResetSynchronizer`) and whenever it
    falls, and reaches the domain's registers on the global network
    (:func:`~rnnrtl.synth.global_net.global_net`). ``frequency`` is the domain's clock in Hz.
    ``lock`` is the PLL's ``LOCK`` output."""

    def __init__(self, setting: PLLSetting, *, domain: str = "sync"):
        self.setting = setting
        self.domain = domain
        self.lock = Signal()

    @property
    def frequency(self) -> float:
        return self.setting.f_out_hz

    def elaborate(self, platform):
        board_hz = platform.default_clk_frequency
        if board_hz != self.setting.f_in_hz:
            raise ConfigError(f"the PLL setting is for a {_mhz(self.setting.f_in_hz)} MHz input; "
                              f"this board's clock is {_mhz(board_hz)} MHz")
        m = Module()
        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(platform.default_clk,
                                                                          dir="-"))
        clkop = Signal()
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_keep=1, **{f"a_{k}": v for k, v in self.setting.attributes().items()},
            **{f"p_{k}": v for k, v in self.setting.parameters().items()},
            i_CLKI=clk_buf.i, i_CLKFB=clkop, o_CLKOP=clkop, o_LOCK=self.lock,
            i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=0, i_PHASESTEP=0,
            i_PHASELOADREG=0, i_PLLWAKESYNC=0, i_ENCLKOP=0)
        m.d.comb += ClockSignal(self.domain).eq(clkop)
        # The synchronised reset in a local domain of the same clock, then onto the global
        # network: from the synchroniser's flip-flop straight to every register of the board
        # (the UART's among them), it was the board build's critical path (7.6 ns of routing).
        m.domains.pll_reset = ClockDomain("pll_reset", local=True)
        m.d.comb += ClockSignal("pll_reset").eq(clkop)
        m.submodules.reset_sync = ResetSynchronizer(~self.lock, domain="pll_reset")
        m.d.comb += ResetSignal(self.domain).eq(
            global_net(m, ResetSignal("pll_reset"), platform, "pll_reset_global"))
        return m
