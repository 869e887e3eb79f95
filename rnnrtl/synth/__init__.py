"""Synthesis and FPGA builds, one concept per module; import from the module (this package
imports none of them).

* :mod:`.uart`: an 8N1 UART (receiver, transmitter, simulation line helpers);
* :mod:`.uart_bridge`: a core's AXI4-Stream ports behind the UART (board half);
* :mod:`.uart_wire`: the UART link's wire format and its host half.
"""
