"""The cocotb testbench for rnnrtl cores (``sim/testbench.py``), driven by a design's manifest.

``testbench.py`` holds the bench and the three cocotb tests; it composes ``core.py`` (settings,
the manifest's view of the core, the lane codec, the clock), ``stream.py`` (Driver, Monitor) and
``scoreboard.py`` (Scoreboard, the II measurement), imported relatively.

Not imported by rnnrtl itself: :func:`rnnrtl.verify.simulate` copies this folder into each
simulation folder as a package and has cocotb import its ``testbench`` there. A wheel ships this
folder as ``rnnrtl/sim`` so installed copies find it too (see ``docs/verilator-waivers.md``).
"""
