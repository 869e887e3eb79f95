"""Design-space exploration: the cheapest configuration of a model that meets a goal.

``rnnrtl explore MODEL --data DATA.npz --goal agreement>=0.995`` (and ``precision: auto`` in a
configuration) search per-tensor formats and activation table sizes — and, with ``--reuse``,
reuse factors — with the bit-exact emulator in the loop (:mod:`.search`), each evaluation a Dask
task (:mod:`.runner`) cached on disk by content hash, costed from the IR (:mod:`.cost`), and
written as ``best.yaml``, ``explore.json`` and ``report.html`` (:mod:`.output`).

Modules: :mod:`.goal` (goal syntax), :mod:`.space` (knobs on a configuration), :mod:`.task` (one
evaluation, as a worker runs it), :mod:`.runner`, :mod:`.search`, :mod:`.cost`, :mod:`.output`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import ConfigError
from .goal import DEFAULT_GOAL, METRICS, Goal, parse_goals
from .search import SearchResult, check_request, search
from .task import Problem

__all__ = ["explore", "Exploration", "Goal", "parse_goals", "DEFAULT_GOAL", "problem_of",
           "plain_config"]


@dataclass
class Exploration:
    """A finished search: its :class:`~.search.SearchResult`, the goals, how many evaluations ran
    (``evaluated``) or came from the cache (``cached``), the workers and the wall time."""
    result: SearchResult
    goals: tuple
    evaluated: int
    cached: int
    workers: int
    seconds: float
    model_name: str
    batches: tuple = ()        # evaluations per batch run (Runner.batches)

    def speedup(self, workers: int) -> float:
        """The most ``workers`` workers can gain over one on this search's batches (every
        evaluation taking the same time): ``sum(b) / sum(ceil(b / workers))``."""
        if not self.batches:
            return 1.0
        return sum(self.batches) / sum(-(-b // workers) for b in self.batches)

    @property
    def best(self) -> dict:
        return self.result.best

    @property
    def base(self) -> dict:
        return self.result.base


def plain_config(config) -> dict:
    """A configuration (dict, path or ``None``) as the validated plain dict a YAML file holds
    (every key present, formats as strings)."""
    from ..config import load_config
    from ..report import plain_data
    once = plain_data(load_config(config))
    return plain_data(load_config(once))    # a fixed point: normalising it again changes nothing


def problem_of(model, data) -> tuple[Problem, str]:
    """``(Problem, input layer name)`` of a loaded model (:func:`rnnrtl.flow.load_model`) and its
    :class:`~rnnrtl.flow.TestData`; the float outputs are computed when the data has none."""
    from ..flow import float_outputs
    from ..frontend import from_keras
    from ..torch_frontend import TorchModel
    float_model = model.float_model if isinstance(model, TorchModel) else from_keras(model)
    y = data.y_float if data.y_float is not None else float_outputs(model, data.x)
    return Problem(float_model, data.x, y, data.labels), float_model.input_name


def explore(model, data, config=None, *, goals=DEFAULT_GOAL, scheduler: str | None = None,
            workers: int | None = None, in_process: bool = False, cache_dir=None, reuse=None,
            max_evaluations: int | None = None, synth: str | None = None, synth_points: int = 4,
            progress=None, log=lambda text: None) -> Exploration:
    """Search for the cheapest configuration of ``model`` meeting ``goals`` on ``data``.

    ``model`` as :func:`rnnrtl.flow.load_model` returns it; ``data`` a
    :class:`~rnnrtl.flow.TestData`; ``config`` the base configuration (``precision: auto`` is
    taken as the default precision to start from). Runs on a Dask ``LocalCluster`` of ``workers``
    processes, on the cluster at ``scheduler``, or with ``in_process`` in this process; results
    are cached in ``cache_dir`` (default :func:`~.runner.default_cache_dir`; ``False``: none).
    With ``synth`` (a yosys estimate family, e.g. ``xcup``) the best point and the cheapest
    ``synth_points`` of the Pareto front are synthesised (one task each) and the cost model is
    calibrated against them (:func:`~.cost.calibrate`, in ``explore.json``).
    ``progress(done, running, waiting)`` is called while a batch runs."""
    from .runner import Cache, DaskRunner, InProcessRunner, default_cache_dir
    from .search import MAX_EVALUATIONS
    goals = parse_goals(goals) if not isinstance(goals, tuple) else goals
    base = base_config(config)
    check_request(goals, base, reuse)
    problem, input_name = problem_of(model, data)
    if problem.y_float is None:
        raise ConfigError("explore compares with the float model's outputs; give y_keras in the "
                          "data or the model to compute them")
    for g in goals:     # what the data cannot measure, said before any worker starts
        if g.metric in ("accuracy_drop", "auc_drop") and problem.labels is None or \
                g.metric == "auc_drop" and problem.y_float.reshape(len(problem.x), -1).shape[1] != 1:
            raise ConfigError(f"goal {g}: {g.metric} needs {METRICS[g.metric][2]}, which this model "
                              "and data do not give; give labels in the data, or a goal on "
                              "agreement, max_err or mean_err")
    cache = None if cache_dir is False else Cache(cache_dir or default_cache_dir())
    t0 = time.perf_counter()
    if in_process:
        runner = InProcessRunner(problem, cache, progress)
    else:
        runner = DaskRunner(problem, cache, progress, scheduler=scheduler, workers=workers)
    with runner:
        result = search(runner, goals, base, input_name=input_name, reuse=reuse,
                        max_evaluations=max_evaluations or MAX_EVALUATIONS, log=log)
        if synth is not None:
            _synthesise(runner, result, synth, synth_points, log)
    return Exploration(result, goals, runner.evaluated, runner.cached, runner.workers,
                       time.perf_counter() - t0, problem.float_model.name, tuple(runner.batches))


def _synthesise(runner, result: SearchResult, family: str, count: int, log):
    """yosys on the best point and the cheapest ``count`` Pareto points meeting the goals."""
    from ..synth.estimate import ESTIMATES
    if family not in ESTIMATES:
        raise ConfigError(f"--synth {family!r} is unknown; valid: {', '.join(ESTIMATES)}")
    front = sorted((p for p in result.points if p["pareto"] and p["feasible"]),
                   key=lambda p: p["cost"]["total"])[:count]
    chosen = [result.best] + [p for p in front if p is not result.best]
    log(f"yosys ({family}) on {len(chosen)} point(s) of the Pareto front")
    for p, r in zip(chosen, runner.run([p["config"] for p in chosen], synth=family)):
        p["synth"] = r.get("synth")
        if r.get("error"):
            p["synth_error"] = r["error"]


def base_config(config) -> dict:
    """The plain starting configuration: ``config`` with a top-level ``precision: auto`` replaced
    by the default profile's default precision."""
    from ..config import is_auto_precision, without_auto_precision
    cfg = plain_config(config)
    return plain_config(without_auto_precision(cfg)) if is_auto_precision(cfg) else cfg
