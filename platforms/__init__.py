"""Build targets: amaranth-boards platforms and the tops that put an rnnrtl core on them.

Thin definitions only; the build flows are :mod:`rnnrtl.build`, the UART bridge
:mod:`rnnrtl.synth.uart_bridge`.

========== ===================================================== =================================
name       platform                                              top
========== ===================================================== =================================
vu9p       :class:`platforms.vu9p.VU9PPlatform` (xcvu9p-flga2104  the core itself, out of context,
           -2L-e, no board)                                      200 MHz clock constraint
arty_a7    amaranth-boards ``ArtyA7_35Platform`` (100 MHz)        :class:`platforms.uart_board.UARTBoardTop`
ulx3s_85f  amaranth-boards ``ULX3S_85F_Platform`` (25 MHz)        :class:`platforms.uart_board.UARTBoardTop`
========== ===================================================== =================================
"""

from amaranth_boards.arty_a7 import ArtyA7_35Platform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from rnnrtl.build import Target

from .uart_board import UARTBoardTop
from .vu9p import VU9PPlatform

__all__ = ["TARGETS", "VU9PPlatform", "UARTBoardTop"]

TARGETS = {
    "vu9p": Target("vu9p", VU9PPlatform, "xilinx",
                   description="Virtex UltraScale+ VU9P, out-of-context synthesis at 200 MHz"),
    "arty_a7": Target("arty_a7", ArtyA7_35Platform, "xilinx", UARTBoardTop,
                      description="Digilent Arty A7-35T: the core behind the USB UART"),
    "ulx3s_85f": Target("ulx3s_85f", ULX3S_85F_Platform, "ecp5", UARTBoardTop,
                        description="Radiona ULX3S, ECP5-85F: the core behind the USB UART"),
}
