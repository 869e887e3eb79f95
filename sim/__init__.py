"""The cocotb testbench for rnnrtl cores (``sim/testbench.py``), driven by a design's manifest.

Not imported by rnnrtl itself: :func:`rnnrtl.verify.simulate` copies ``testbench.py`` into each
simulation folder and has cocotb import it there. A wheel ships this folder as ``rnnrtl/sim`` so
installed copies find it too (see ``docs/verilator-waivers.md``).
"""
