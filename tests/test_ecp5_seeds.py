"""nextpnr seeds (issue 22): ``rnnrtl build --seeds 1,2,3`` parsed and refused as a user error,
one build folder per seed for a target, and one synthesis placed and routed once per seed for an
ECP5 estimate, the best run kept and every run reported."""

import json

import pytest

from cli_helpers import assert_user_error, invoke
from rnnrtl.errors import ConfigError
from rnnrtl.synth.seeds import MAX_SEEDS, best_run, check_seeds, parse_seeds
from synth_helpers import write_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.mark.parametrize("text, seeds", [("1,2,3", (1, 2, 3)), ("7", (7,)), (" 0, 5 ,2", (0, 5, 2))])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, fragment", [
    ("", "empty item"), ("1,,2", "empty item"), ("1,", "empty item"),
    ("1,x", "'x' is not a seed"), ("-1", "'-1' is not a seed"), ("1.5", "'1.5' is not a seed"),
    ("1,2,1", "seed 1 is given twice"),
    (",".join(map(str, range(MAX_SEEDS + 1))), f"at most {MAX_SEEDS}"),
])
def test_parse_seeds_refuses(text, fragment):
    with pytest.raises(ConfigError, match="--seeds") as e:
        parse_seeds(text)
    assert fragment in str(e.value)


def test_check_seeds_refuses_non_integers():
    for bad in ([], [True], [-2], ["3"]):
        with pytest.raises(ConfigError, match="seed"):
            check_seeds(bad)


def test_best_run_prefers_the_highest_fmax_and_ranks_failures_last():
    runs = [{"seed": 1, "fmax_mhz": None}, {"seed": 2, "fmax_mhz": 151.0},
            {"seed": 3, "fmax_mhz": 160.5}, {"seed": 4, "fmax_mhz": 160.5}]
    assert best_run(runs)["seed"] == 3                      # the first of equals
    assert best_run(runs[:1])["seed"] == 1                  # a lone failure is still the run


@pytest.mark.parametrize("args, fragment", [
    (["--seeds", "1,x"], "'x' is not a seed"), (["--seeds", ""], "empty item"),
    (["--seeds", "2,2"], "seed 2 is given twice"), (["--seed", "3", "--seeds", "1,2"], "not both"),
])
def test_build_refuses_bad_seeds(tiny, args, fragment):
    _, core = tiny
    result = invoke("build", core, "--target", "ulx3s_85f", "--no-run", *args)
    assert_user_error(result, fragment)
    assert "--seed" in result.output.strip().splitlines()[-1]


def test_build_seeds_writes_a_build_per_seed(tiny, tmp_path):
    """``--seeds 3,1``: a build folder per seed, each nextpnr command with its own seed."""
    _, core = tiny
    folder = tmp_path / "b"
    result = invoke("build", core, "--target", "ulx3s_85f", "--no-run", "--build-dir", folder,
                    "--seeds", "3,1")
    assert result.exit_code == 0, result.output
    for seed in (3, 1):
        script = next((folder / "ulx3s_85f" / f"seed{seed}").rglob("build_*.sh")).read_text()
        assert f"--seed {seed} " in script
    assert not (folder / "ulx3s_85f" / "seed2").exists()
    assert "seeds 3, 1" in result.output


@pytest.mark.slow
def test_estimate_places_one_netlist_per_seed(tiny, tmp_path):
    """Two seeds, placement only (cheap): one yosys run, two nextpnr reports, the best kept."""
    from rnnrtl.synth.core import read_core
    from rnnrtl.synth.estimate import run_estimate
    _, core = tiny
    est = run_estimate(read_core(core), "ecp5", tmp_path, seeds=(2, 5), route=False)
    assert [r["seed"] for r in est.runs] == [2, 5]
    assert all(r["fmax_mhz"] and r["fmax_mhz"] > 25 for r in est.runs)
    assert est.fmax_mhz == max(r["fmax_mhz"] for r in est.runs)
    assert est.seed == best_run(est.runs)["seed"]
    assert (tmp_path / "nextpnr-seed2.json").is_file() and (tmp_path / "nextpnr-seed5.log").is_file()
    assert len(list(tmp_path.glob("yosys_2.ys"))) == 1
    # the core's memories were mapped in a module of their own (memories_apart), then flattened
    # back into the core, which stays a module of its own in the wrapper nextpnr places
    log = (tmp_path / "yosys_2.log").read_text()
    assert "mapping memory rnnrtl_memories.core." in log
    modules = json.loads((tmp_path / "tiny_regs.json").read_text())["modules"]
    assert "tiny" in modules and "rnnrtl_memories" not in modules
    # the netlist's widest register fanouts, widest first, named by the core's nets
    assert 1 <= len(est.fanouts) <= 5 and est.fanouts[0].loads > 1
    assert [f.loads for f in est.fanouts] == sorted((f.loads for f in est.fanouts), reverse=True)


@pytest.mark.slow
def test_target_builds_its_seeds_side_by_side(tiny, tmp_path):
    """Two seeds of a board build, run side by side: a bitstream and a report per seed folder, each
    placed with its own seed, the core's ROMs split once for both, the best run kept."""
    from rnnrtl.synth.build import build
    from rnnrtl.platforms import TARGETS
    _, core = tiny
    r = build(core, TARGETS["ulx3s_85f"], outdir=tmp_path, seeds=(4, 2))
    assert [run["seed"] for run in r.runs] == [4, 2]
    for run in r.runs:
        folder = run["folder"]
        assert folder == tmp_path / "ulx3s_85f" / f"seed{run['seed']}"
        assert (folder / "tiny_ulx3s_85f.bit").stat().st_size > 100_000
        assert f"--seed {run['seed']} " in next(folder.glob("build_*.sh")).read_text()
        assert run["fmax_mhz"] and run["fmax_mhz"] > 25
    assert r.ran and r.seed == best_run(r.runs)["seed"]
    assert r.fmax_mhz == max(run["fmax_mhz"] for run in r.runs)
    assert len(list((tmp_path / "rom_split").glob("roms_1.log"))) == 1
