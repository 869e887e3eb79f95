"""Build targets: Amaranth platforms and the tops that put an rnnrtl core on them.

Thin definitions only (data): the build flows are :mod:`rnnrtl.synth`, the UART bridge
:mod:`rnnrtl.synth.uart_bridge`. This folder stays at the top of the repository and ships inside
the wheel as ``rnnrtl.platforms``; it imports :mod:`rnnrtl.synth`, never the other way round
(``rnnrtl build --target NAME`` looks ``NAME`` up in :data:`TARGETS`).

========== ===================================================== =================================
name       platform                                              top
========== ===================================================== =================================
vu9p       :class:`~rnnrtl.platforms.vu9p.VU9PPlatform`          the core itself, out of context,
           (xcvu9p-flga2104-2L-e, no board)                      200 MHz clock constraint
arty_a7    amaranth-boards ``ArtyA7_35Platform`` (100 MHz)        :class:`~rnnrtl.platforms.uart_board.UARTBoardTop`
ulx3s_85f  :class:`~rnnrtl.platforms.ulx3s.ULX3S85FPlatform`     :class:`~rnnrtl.platforms.uart_board.UARTBoardTop`
           (amaranth-boards ``ULX3S_85F_Platform``, 25 MHz)      on the PLL's clock (150 MHz unless
                                                                 ``--clock-mhz`` says otherwise)
========== ===================================================== =================================
"""

from amaranth_boards.arty_a7 import ArtyA7_35Platform

from rnnrtl.synth.targets import Target

from .uart_board import UARTBoardTop
from .ulx3s import ULX3S85FPlatform
from .vu9p import VU9PPlatform

__all__ = ["TARGETS", "VU9PPlatform", "ULX3S85FPlatform", "UARTBoardTop"]

TARGETS = {
    "vu9p": Target("vu9p", VU9PPlatform, "xilinx",
                   description="Virtex UltraScale+ VU9P, out-of-context synthesis at 200 MHz"),
    "arty_a7": Target("arty_a7", ArtyA7_35Platform, "xilinx", UARTBoardTop,
                      description="Digilent Arty A7-35T: the core behind the USB UART"),
    "ulx3s_85f": Target("ulx3s_85f", ULX3S85FPlatform, "ecp5", UARTBoardTop,
                        description="Radiona ULX3S, ECP5-85F: the core behind the USB UART, "
                                    "on a 150 MHz clock from the PLL",
                        clock_mhz=150.0),
}
