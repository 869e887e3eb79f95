"""Synthesis and FPGA builds: vendor build plans, an ECP5 bitstream, resource and Fmax estimates.

One concept per module; import from the module (this package imports none of them, so
``python -m rnnrtl.synth.ecp5_pack`` and ``python -m rnnrtl.synth.yosys`` run as build steps
without loading the rest):

========================= =========================================================================
module                    concept
========================= =========================================================================
:mod:`.build`             orchestration: :func:`~.build.build` a core for a target and/or estimate
:mod:`.core`              a written core (manifest, Verilog, RTLIL) and the wrappers around it
:mod:`.targets`           :class:`~.targets.Target` and the platform hooks builds rely on
:mod:`.vivado`            out-of-context Xilinx platform, IP packaging TCL, Vivado report reading
:mod:`.yosys`             finding and running yosys / nextpnr (YoWASP or pyosys), reading reports
:mod:`.rom_split`         multi-port ROMs replicated per port pair before memory mapping
:mod:`.ecp5_pack`         ECP5 register packing into ``MULT18X18D`` / ``DP16KD`` cells
:mod:`.ecp5_pll`          ECP5 PLL (``EHXPLLL``) dividers for a core clock, and its clock domain
:mod:`.estimate`          resource and Fmax estimates of the bare core
:mod:`.multipliers`       the manifest's multipliers against yosys's DSP count
:mod:`.uart`              an 8N1 UART (receiver, transmitter, simulation line helpers)
:mod:`.uart_bridge`       a core's AXI4-Stream ports behind the UART (board half)
:mod:`.uart_wire`         the UART link's wire format and its host half
========================= =========================================================================

The targets themselves are ``rnnrtl.platforms.TARGETS`` (``platforms/`` in the repository),
which imports this package; nothing here imports it.
"""
