"""rnnrtl.synth.build: build plans for every target of rnnrtl.platforms without the vendor tools,
and an ECP5 bitstream with YoWASP's tools on a tiny model (the first YoWASP run on a machine
compiles the tools, ~75 s once)."""

import json
from pathlib import Path

import pytest
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from rnnrtl.errors import ConfigError
from rnnrtl.platforms import TARGETS, UARTBoardTop
from rnnrtl.synth.build import build
from rnnrtl.synth.targets import Target
from synth_helpers import check_ip_tcl, check_pll, manifest, write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


def test_vu9p_plan(tiny, tmp_path):
    _, core = tiny
    r = build(core, TARGETS["vu9p"], outdir=tmp_path, run=False)
    f = r.files
    assert not r.ran and "not run" in r.message
    tcl = f["tcl"].read_text()
    assert "-part xcvu9p-flga2104-2L-e" in tcl and "-mode out_of_context" in tcl
    assert "add_files \"tiny.v\"" in tcl and "write_bitstream" not in tcl
    assert "create_clock -name clk -period 5.000 [get_ports clk]" in f["xdc"].read_text()
    top = f["top_verilog"].read_text()
    assert "module tiny_ooc(" in top and "tiny core (" in top
    for port in manifest(core)["ports"]:
        assert port["name"] in top
    assert f["core_verilog"].read_text() == (core / "tiny.v").read_text()
    check_ip_tcl(f["ip_tcl"].read_text(), "xcvu9p-flga2104-2L-e")


def test_arty_plan(tiny, tmp_path):
    _, core = tiny
    r = build(core, TARGETS["arty_a7"], outdir=tmp_path, run=False)
    f = r.files
    tcl = f["tcl"].read_text()
    assert "-part xc7a35ticsg324-1L" in tcl and "write_bitstream" in tcl
    xdc = f["xdc"].read_text()
    assert 'set_property LOC A9 [get_ports "uart_0__rx__io"]' in xdc      # the board's USB UART
    assert 'set_property LOC D10 [get_ports "uart_0__tx__io"]' in xdc
    assert "create_clock -name clk100_0__io -period 10.0" in xdc
    assert "tiny core (" in f["top_verilog"].read_text()
    check_ip_tcl(f["ip_tcl"].read_text(), "xc7a35ticsg324-1L")
    assert f["build_script"].is_file()


def test_ulx3s_plan(tiny, tmp_path):
    _, core = tiny
    r = build(core, TARGETS["ulx3s_85f"], outdir=tmp_path, run=False)
    ys = r.files["yosys_script"].read_text()
    assert "read_verilog  tiny.v" in ys or "read_verilog tiny.v" in ys
    assert "synth_ecp5" in ys
    lpf = r.files["lpf"].read_text()
    assert 'LOCATE COMP "uart_0__rx__io" SITE "M1"' in lpf
    script = r.files["build_script"].read_text()
    assert "--report tiny_ulx3s_85f_report.json" in script
    # nextpnr's router is rnnrtl.synth.place_route's choice (the script's $NEXTPNR_ECP5), not
    # the script's
    assert "--router" not in script and "--placer-heap-timingweight 100" in script
    # the DSP register packing runs between yosys and nextpnr
    assert script.index('"$YOSYS"') < script.index("-m rnnrtl.synth.ecp5_pack tiny_ulx3s_85f.json") \
        < script.index('"$NEXTPNR_ECP5"')
    # the core's clock: the PLL's 150 MHz from the board's 25 MHz, which is all the LPF constrains
    check_pll((r.outdir / "ulx3s_85f" / "tiny_ulx3s_85f.il").read_text(), 25e6, 150e6)
    assert 'FREQUENCY PORT "clk25_0__io" 25000000.0 HZ;' in lpf
    assert r.clock.f_out_hz == 150e6


@pytest.mark.parametrize("mhz", [125, 50, 200.0])
def test_ulx3s_plan_clock(tiny, tmp_path, mhz):
    _, core = tiny
    r = build(core, TARGETS["ulx3s_85f"], outdir=tmp_path, run=False, clock_mhz=mhz)
    check_pll((tmp_path / "ulx3s_85f" / "tiny_ulx3s_85f.il").read_text(), 25e6, mhz * 1e6)


@pytest.mark.parametrize("target, mhz, fragments", [
    ("ulx3s_85f", 140, ["clock_mhz (--clock-mhz) 140 MHz", "137.5 MHz or 150 MHz"]),
    ("ulx3s_85f", 0, ["clock_mhz (--clock-mhz) 0", "> 0"]),
    ("ulx3s_85f", -25.0, ["> 0"]),
    ("ulx3s_85f", 800, ["output range 8 - 400 MHz"]),
    ("ulx3s_85f", "150", ["clock_mhz (--clock-mhz) '150'", "a number > 0"]),
    ("arty_a7", 100, ["target 'arty_a7' has no PLL"]),
    ("vu9p", 200, ["target 'vu9p' has no PLL"]),
    (None, 150, ["an estimate alone has no board clock"]),
])
def test_build_refuses_bad_clocks(tiny, tmp_path, target, mhz, fragments):
    _, core = tiny
    with pytest.raises(ConfigError) as e:
        build(core, TARGETS.get(target), outdir=tmp_path / "b", run=False, clock_mhz=mhz,
              estimate="ecp5" if target is None else None)
    for fragment in fragments:
        assert fragment in str(e.value)
    assert not (tmp_path / "b").exists()             # refused before anything is written


def test_target_clock_needs_an_ecp5_board():
    with pytest.raises(ConfigError, match="clock_mhz .* needs an 'ecp5' family target"):
        Target("x", ULX3S_85F_Platform, "xilinx", UARTBoardTop, clock_mhz=100.0)
    with pytest.raises(ConfigError, match="without a top"):
        Target("x", ULX3S_85F_Platform, "ecp5", clock_mhz=100.0)


def test_build_from_design_writes_core(tiny, tmp_path):
    design, _ = tiny
    r = build(design, TARGETS["vu9p"], outdir=tmp_path, run=False)
    assert r.core.dir == (tmp_path / "core").resolve()
    assert (tmp_path / "core" / "vectors.npz").is_file()
    assert r.core.rtlil is not None and r.core.rtlil.read_text().startswith("attribute")  # RTLIL
    assert r.timing["multipliers"] == design.timing.multipliers == r.multipliers


def test_build_refuses_names_and_unpacked_ecp5(tiny, tmp_path):
    _, core = tiny
    with pytest.raises(TypeError, match="rnnrtl.platforms.TARGETS"):
        build(core, "vu9p", outdir=tmp_path, run=False)
    with pytest.raises(ConfigError, match="estimate 'xc8' is unknown"):
        build(core, None, outdir=tmp_path, estimate="xc8")
    plain = Target("plain", ULX3S_85F_Platform, "ecp5", UARTBoardTop)
    with pytest.raises(ConfigError, match="does not mix in .*ECP5RegisterPacking"):
        build(core, plain, outdir=tmp_path, run=False)


@pytest.mark.slow
def test_ecp5_bitstream(tiny, tmp_path, monkeypatch):
    """The board build, into a folder named relative to the working directory, as a user types it
    (the build script runs in the build folder: every tool it calls must be found from there)."""
    _, core = tiny
    monkeypatch.chdir(tmp_path)
    r = build(core, TARGETS["ulx3s_85f"], outdir=Path("board"))
    assert r.ran, r.message
    bit = r.files["bitstream"]
    assert bit.is_file() and bit.stat().st_size > 100_000
    assert r.files["rom_split_verilog"].is_file()          # what yosys read
    assert r.resources["MULT18X18D"]["used"] == r.multipliers
    assert r.critical_path["delay_ns"] > 0
    # The core runs on the PLL's 150 MHz: nextpnr derives that constraint from the board's 25 MHz,
    # routes the EHXPLLL, and the Fmax reported is the PLL clock's, compared with 150 MHz.
    folder = bit.parent
    log = next(folder.glob("*.tim")).read_text()
    assert "Input frequency of PLL 'clock.pll' is constrained to 25.0 MHz" in log
    assert "Derived frequency constraint of 150.0 MHz for net" in log
    assert r.resources["EHXPLLL"]["used"] == 1
    report = json.loads(next(folder.glob("*_report.json")).read_text())
    (clock, timing), = report["fmax"].items()        # one clock domain: the PLL's
    assert abs(timing["constraint"] - 150) < 0.1 and timing["achieved"] == r.fmax_mhz
    assert r.fmax_mhz > 25
    # nextpnr ran through rnnrtl.synth.place_route: router1 routes the tiny core within its budget
    assert r.router == "router1" and "(nextpnr router1)" in r.summary()
    assert "against the core's 150 MHz clock (PLL from the board's 25 MHz)" in r.message
    assert ("TIMING NOT MET" in r.message) == (r.fmax_mhz < 150)


def test_bad_router_budget_refused_before_any_tool(tiny, tmp_path, monkeypatch):
    """RNNRTL_ROUTER1_BUDGET_S is read when a build starts, not minutes later inside nextpnr's
    wrapper, so a bad value is one ConfigError before yosys runs."""
    _, core = tiny
    monkeypatch.setenv("RNNRTL_ROUTER1_BUDGET_S", "soon")
    with pytest.raises(ConfigError, match="RNNRTL_ROUTER1_BUDGET_S='soon' is not a budget"):
        build(core, TARGETS["ulx3s_85f"], outdir=tmp_path / "b", run=False)
    assert not (tmp_path / "b").exists()
