"""rnnrtl.synth.place_route: router1 within its budget, router2 on the same command past it (with
timing-driven rip-up, without it when the rip-up churns)."""

import json
import os
import subprocess
import sys
import time

import pytest

from rnnrtl.errors import BuildError, ConfigError
from rnnrtl.synth import place_route
from rnnrtl.synth.place_route import (BUDGET_ENV, RIPUP_ITERATIONS, ROUTER1_BUDGET_S,
                                      RouteOutcome, read_outcome, route_budget, route_with_budget,
                                      wrapper_script)
from rnnrtl.synth.yosys import nextpnr_summary, run_tool, tool

# Sixteen chained multiply-accumulates: router1 routes them for several seconds (YoWASP), long
# enough for a budget of 0 to stop it at the first look at its log.
MACS = """
module top(input clk, input [15:0] a, b, output reg [31:0] y);
  genvar i; reg [15:0] ra[0:15], rb[0:15]; reg [31:0] acc[0:15];
  generate for (i = 0; i < 16; i = i + 1) begin: g
    always @(posedge clk) begin
      ra[i] <= (i == 0) ? a : ra[i - 1] ^ rb[i - 1];
      rb[i] <= (i == 0) ? b : rb[i - 1] + ra[i - 1];
      acc[i] <= acc[i] + ra[i] * rb[i] + ((i == 0) ? 0 : acc[i - 1]);
    end
  end endgenerate
  always @(posedge clk) y <= acc[15];
endmodule
"""


@pytest.fixture(scope="module")
def netlist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("macs")
    (folder / "macs.v").write_text(MACS)
    run_tool([tool("yosys"), "-q", "-l", "yosys.log", "-p", "synth_ecp5 -top top -json macs.json",
              "macs.v"], folder, "yosys (macs)", "yosys.log")
    return folder


# The netlist routes at about 80 MHz: aimed at 50 MHz router2's timing-driven rip-up finds no arc
# failing timing and finishes; aimed at 200 MHz it rips the failing arcs up every iteration.
REACHED, MISSED = "50", "200"


def _command(log: str, freq: str = MISSED) -> list[str]:
    return [tool("nextpnr-ecp5"), "--85k", "--package", "CABGA381", "--out-of-context",
            "--json", "macs.json", "--freq", freq, "--timing-allow-fail", "--quiet",
            "--log", log, "--report", f"{log}.report.json"]


def _routed_by(folder, log: str) -> str:
    """``router1``, ``router2`` or ``router2 --tmg-ripup``, as the log of a finished run shows."""
    text = (folder / log).read_text()
    # router2 ends with router1's legality check; router1 alone has no router2 line
    if "Info: Router2 time" not in text:
        return "router1"
    return "router2 --tmg-ripup" if "tmgfail=" in text else "router2"


@pytest.mark.slow
def test_router1_within_its_budget_is_kept(netlist):
    outcome = route_with_budget(_command("within.log"), netlist, budget_s=600)
    assert outcome.router == "router1" and outcome.router1_stopped_s is None
    assert _routed_by(netlist, "within.log") == "router1"
    assert not (netlist / "within.log.router1").exists()
    assert read_outcome(netlist, "within.log") == outcome
    report = json.loads((netlist / "within.log.report.json").read_text())
    assert nextpnr_summary(report)["fmax_mhz"] > 0


@pytest.mark.slow
def test_router1_past_its_budget_gives_way_to_router2(netlist):
    outcome = route_with_budget(_command("past.log", REACHED), netlist, budget_s=0)
    assert outcome.router == "router2" and outcome.router1_stopped_s is not None
    assert outcome.ripup and outcome.ripup_stopped_iter is None
    assert "with timing-driven rip-up, router1 stopped after" in outcome.describe()
    # router1's log is kept, stopped while routing; the log and the report are router2's
    stopped = (netlist / "past.log.router1").read_text()
    assert place_route.ROUTING_STARTED in stopped and "Router1 time" not in stopped
    assert _routed_by(netlist, "past.log") == "router2 --tmg-ripup"
    assert not (netlist / "past.log.router2-ripup").exists()
    assert read_outcome(netlist, "past.log") == outcome
    report = json.loads((netlist / "past.log.report.json").read_text())
    assert nextpnr_summary(report)["fmax_mhz"] > 0


@pytest.mark.slow
def test_churning_ripup_gives_way_to_plain_router2(netlist):
    """Aimed out of reach, router2's rip-up would run nextpnr's 1,500 iterations: it is stopped
    past its limit and plain router2 routes."""
    outcome = route_with_budget(_command("churn.log"), netlist, budget_s=0, ripup_iterations=3)
    assert outcome.router == "router2" and not outcome.ripup
    assert outcome.ripup_stopped_iter > 3
    assert outcome.describe().endswith(f"the rip-up after {outcome.ripup_stopped_iter} iterations")
    churned = (netlist / "churn.log.router2-ripup").read_text()
    assert "tmgfail=" in churned and "Router2 time" not in churned
    assert _routed_by(netlist, "churn.log") == "router2"
    assert read_outcome(netlist, "churn.log") == outcome
    assert not (netlist / "churn.log.out").exists()      # no output of a stopped run left


@pytest.mark.slow
def test_wrapper_script_runs_as_nextpnr(netlist):
    """An Amaranth build script calls the wrapper as "$NEXTPNR_ECP5" with nextpnr's arguments."""
    wrapper = wrapper_script(netlist)
    proc = subprocess.run([str(wrapper), *_command("wrapped.log", REACHED)[1:]], cwd=netlist,
                          capture_output=True, text=True,
                          env={**os.environ, BUDGET_ENV: "0"})
    assert proc.returncode == 0, proc.stderr
    assert "kept router2 with timing-driven rip-up, router1 stopped after" in proc.stderr
    assert read_outcome(netlist, "wrapped.log").router == "router2"


def test_failure_names_the_step(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    command = [tool("nextpnr-ecp5"), "--85k", "--json", "bad.json", "--log", "bad.log"]
    with pytest.raises(BuildError, match=r"nextpnr-ecp5 \(bad\) failed"):
        route_with_budget(command, tmp_path, step="nextpnr-ecp5 (bad)")
    assert read_outcome(tmp_path, "bad.log") is None


def test_command_must_leave_the_router_and_give_a_log(tmp_path):
    with pytest.raises(ValueError, match="without --router"):
        route_with_budget(["nextpnr-ecp5", "--router", "router1", "--log", "x.log"], tmp_path)
    with pytest.raises(ValueError, match="give --log"):
        route_with_budget(["nextpnr-ecp5", "--json", "x.json"], tmp_path)


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert route_budget() == ROUTER1_BUDGET_S
    monkeypatch.setenv(BUDGET_ENV, "42.5")
    assert route_budget() == 42.5
    for bad in ("-1", "soon", "inf", "nan"):
        monkeypatch.setenv(BUDGET_ENV, bad)
        with pytest.raises(ConfigError, match=f"{BUDGET_ENV}=.*seconds, a number >= 0"):
            route_budget()


def test_router1_goes_on_past_its_budget_only_while_it_converges():
    """router1's progress on the ULX3S jet LSTM (arcs left, seconds; from its logs): converging
    runs go on past a 600 s budget, the run that did not converge in 37 minutes stops."""
    gives_up = place_route.router1_gives_up
    converging = [(2723, 250.0), (1988, 280.0), (1280, 300.0), (624, 320.0), (439, 334.3),
                  (411, 370.0), (235, 451.0), (91, 517.1)]
    assert not gives_up(100.0, 600, converging[:2])           # within the budget: always on
    assert not gives_up(610.0, 600, converging)               # new lows, at a pace to finish
    assert gives_up(1801.0, 600, converging)                  # never past 3 budgets
    # one line up between two lows goes on (the ULX3S top at seed 1); two lines without a new
    # low is a stall
    assert not gives_up(610.0, 600, converging + [(95, 580.0)])
    assert gives_up(650.0, 600, converging + [(95, 580.0), (93, 640.0)])
    seed1 = [(1880, 171.4), (1416, 195.6), (1005, 215.5), (761, 249.7), (632, 322.6),
             (428, 389.6), (445, 476.7), (295, 544.7)]
    assert not gives_up(601.0, 600, seed1)
    stalled = [(388, 420.0), (205, 510.0), (128, 621.0), (211, 813.0)]
    assert not gives_up(813.5, 600, stalled)
    assert gives_up(1000.0, 600, stalled + [(150, 990.0)])
    assert gives_up(610.0, 600, converging[:2])               # too few lines to judge
    # the run that did not converge: new lows, at a pace to finish within 30 minutes, until it
    # reaches them
    stuck = [(2156, 403.3), (1621, 437.7), (1194, 522.1), (899, 644.2), (600, 876.3),
             (437, 1209.6)]
    assert not gives_up(1210.0, 600, stuck)
    assert gives_up(1800.5, 600, stuck)
    # new lows, but 263 arcs in 710 s leave 437 for ~1,180 s more: past 30 minutes
    slowing = [(700, 500.0), (690, 600.0), (650, 700.0), (600, 876.3), (437, 1209.6)]
    assert gives_up(1210.0, 600, slowing)
    assert gives_up(0.5, 0, [])


def test_progress_lines_are_read():
    line = "Info:     199000 |    20067     171015 |  688   300 |        70|     156.11     600.76|"
    m = place_route._PROGRESS.match(line)
    assert (int(m.group(1)), float(m.group(2))) == (70, 600.76)
    assert place_route._PROGRESS.match("Info: Routing 173992 arcs.") is None
    iteration = "Info:     iter=48 wires=880034 overused=0 overuse=0 tmgfail=0 archfail=0"
    assert place_route._ITERATION.match(iteration).group(1) == "48"
    assert place_route._ITERATION.match(line) is None


def test_ripup_watch_gives_up_past_its_iterations():
    watch = place_route._IterationWatch(RIPUP_ITERATIONS)
    watch.feed([f"Info:     iter={k} wires=1 overused=0 overuse=0 tmgfail=3 archfail=NA"
                for k in range(1, RIPUP_ITERATIONS + 1)], 0.0)
    assert not watch.gives_up(0.0)
    watch.feed(["Info: Routing complete.",
                f"Info:     iter={RIPUP_ITERATIONS + 1} wires=1 overused=0 tmgfail=3 archfail=NA"],
               0.0)
    assert watch.gives_up(0.0) and watch.stopped_at(0.0) == RIPUP_ITERATIONS + 1


def _progress_line(left: int) -> str:
    return f"Info:     9000 |    20067     171015 |  688   300 |  {left:8d}|     156.11     600.76|"


def test_router1_watch_counts_the_time_nextpnr_used():
    """The budget runs on the time ``now`` the watch is given (nextpnr's CPU time), from the line
    that starts routing; progress lines are timed by it, not by nextpnr's wall-clock seconds."""
    watch = place_route._Router1Watch(600)
    watch.feed(["Info: Placed 1000 cells.", _progress_line(900)], 500.0)
    assert watch.progress == [] and not watch.gives_up(5000.0)     # not routing yet
    watch.feed([place_route.ROUTING_STARTED], 40.0)
    watch.feed([_progress_line(700)], 340.0)
    watch.feed([_progress_line(500)], 540.0)
    watch.feed([_progress_line(300)], 600.0)
    assert watch.progress == [(700, 300.0), (500, 500.0), (300, 560.0)]
    assert not watch.gives_up(640.0)          # 600 s of routing: within the budget
    assert watch.stopped_at(640.0) == 600.0
    # past it, a machine twice as busy changes nothing but the wall-clock time: converging at
    # 200 arcs in 60 s it goes on; a line without a new low and then another is a stall
    assert not watch.gives_up(660.0)
    watch.feed([_progress_line(310)], 700.0)
    assert not watch.gives_up(700.0)
    watch.feed([_progress_line(320)], 760.0)
    assert watch.gives_up(760.0)


def test_process_clock_counts_cpu_time_not_waiting():
    """A process's clock moves while it computes and stands still while it sleeps, however busy
    the machine: the child works for one second of its own CPU time, says so, and sleeps."""
    work = ("import sys, time\nwhile time.process_time() < 1.0: pass\n"
            "print('done', flush=True)\ntime.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", work], stdout=subprocess.PIPE, text=True)
    try:
        clock = place_route._ProcessClock(proc.pid)
        if not clock.cpu:
            pytest.skip("no /proc: the clock is wall-clock time here")
        assert proc.stdout.readline() == "done\n"
        worked = clock()
        time.sleep(1.0)
        assert 0.95 <= worked <= 1.5, worked         # the second (in ticks), and Python's start
        assert clock() - worked < 0.1
    finally:
        proc.kill()
        proc.wait()
    assert clock() >= worked                         # gone: the last value it saw


def test_outcome_describes_the_router_kept():
    assert RouteOutcome("router1", 12.0).describe() == "router1"
    assert RouteOutcome("router2", 80.0, 600.4, ripup=True).describe() == \
        "router2 with timing-driven rip-up, router1 stopped after 600 s of routing"
    assert RouteOutcome("router2", 80.0, 600.4, ripup_stopped_iter=201).describe() == \
        "router2, router1 stopped after 600 s of routing, the rip-up after 201 iterations"


def test_main_reports_errors_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert place_route.main(["--router", "router2", "--log", "x.log"]) == 1
    assert capsys.readouterr().err.startswith("ERROR: ")
