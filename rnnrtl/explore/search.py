"""The search: from the traced value ranges down to the cheapest configuration meeting the goals.

1. **Start** — the base configuration (the user's ``-c``, else the defaults) is emulated once with
   tracing; every tensor's integer bits are cut to what its largest traced magnitude needs
   (:func:`rnnrtl.explore.space.knobs_of`; the report's "spare int bits"). If the trimmed start
   misses the goals, one integer bit of margin is added to every tensor, then also :data:`WIDEN`
   fractional bits (the base may miss the goals itself); else the base is kept if it meets them.
2. **Bisection per knob** — all knobs at once, each lowered alone from the trimmed start: a
   bisection over its fractional bits (or table size) for the lowest value whose loss stays within
   half of the goal's slack (:data:`SHARE`). Each round is one task per open knob.
3. **Combine and back off** — every knob at its bisected value; while that misses a goal, each
   lowered knob is raised by one bit in a candidate of its own and the cheapest candidate meeting
   the goals is kept (or the closest, and again).
4. **Greedy descent** — from the feasible point, each knob lowered by one more step in a candidate
   of its own; the feasible candidate saving most is kept, a knob whose step failed or saved
   nothing is frozen; until no knob is left or :data:`MAX_EVALUATIONS` is spent.

Every decision is taken on a whole batch of results in submission order, so the result does not
depend on how many workers evaluated the batch. With ``reuse`` the best configuration is then
costed at each reuse factor (numbers unchanged: reuse is a timing knob) with its latency and II.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ..errors import ConfigError, FlowError
from .goal import NUMERIC, Goal
from .space import FormatKnob, knobs_of, start_state, to_config

__all__ = ["search", "check_request", "SearchResult", "MAX_EVALUATIONS", "SHARE", "pareto"]

#: Evaluations the search may spend (cached ones count too: a resumed run takes the same path).
MAX_EVALUATIONS = 400
#: Fractional bits added to every tensor when even the trimmed start with an integer bit of margin
#: misses the goals (a base that misses them itself: the search can widen as well as narrow).
WIDEN = 4
#: Share of the goal's slack (its budget minus the start's loss) one knob alone may use in step 2.
SHARE = 0.5


@dataclass
class SearchResult:
    points: list               # every evaluated point (dicts; see Search._record)
    base: dict                 # the base configuration's point
    best: dict | None          # the cheapest point meeting every goal (None: none did)
    knobs: list = field(default_factory=list)


class _Search:
    def __init__(self, runner, goals: tuple[Goal, ...], base_config: dict, input_name: str,
                 max_evaluations: int, log):
        self.runner, self.goals, self.base_config = runner, goals, base_config
        self.input_name, self.max_evaluations, self.log = input_name, max_evaluations, log
        self.numeric_goals = [g for g in goals if g.metric in NUMERIC]
        self.points: list[dict] = []
        self.spent = 0

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(self, phase: str, configs, states, **options) -> list[dict]:
        results = self.runner.run(configs, **options)
        self.spent += len(configs)
        out = []
        for config, state, r in zip(configs, states, results):
            point = {"id": len(self.points), "phase": phase, "config": config, "state": state,
                     "cost": r.get("cost"), "metrics": r.get("metrics"), "error": r.get("error"),
                     "timing": r.get("timing")}
            point["feasible"] = self.feasible(point)
            self.points.append(point)
            out.append((point, r))
        return out

    def feasible(self, point, goals=None) -> bool:
        if point["error"] is not None:
            return False
        return all(g.met(point["metrics"]) for g in (goals or self.numeric_goals))

    def loss(self, point) -> float:
        """Worst goal loss relative to its budget (<= 1: every numeric goal met)."""
        if point["error"] is not None:
            return float("inf")
        return max(g.loss(point["metrics"]) / max(g.budget, 1e-12) for g in self.numeric_goals)

    def within(self, point, limits: dict) -> bool:
        if point["error"] is not None:
            return False
        return all(g.loss(point["metrics"]) <= limits[g] for g in self.numeric_goals)

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.max_evaluations

    def _configs(self, states):
        return [to_config(self.base_config, self.knobs, s) for s in states]

    def batch(self, phase, states):
        return [p for p, _ in self.evaluate(phase, self._configs(states), states)]

    # -- the steps -----------------------------------------------------------------------------

    def start(self):
        (base, r), = self.evaluate("base", [self.base_config], [None], ranges=True)
        if base["error"] is not None:
            raise ConfigError(f"the base configuration cannot be evaluated: {base['error']}")
        self.base = base
        for g in self.numeric_goals:
            if base["metrics"].get(g.metric) is None:
                from .goal import METRICS
                raise ConfigError(f"goal {g}: {g.metric} needs {METRICS[g.metric][2]}, which this "
                                  "model and data do not give; valid here: "
                                  + ", ".join(m for m in NUMERIC if base["metrics"].get(m) is not None))
        from ..quantize import quantize
        from ..config import load_config
        network, _ = quantize(self.runner.problem.float_model, load_config(self.base_config))
        self.knobs = knobs_of(network, self.input_name, r["ranges"], self.base_config["tables"])
        self.log(f"{len(self.knobs)} knobs; base cost {base['cost']['total']:,.0f}, "
                 f"{_metric_text(base, self.numeric_goals)}")
        trimmed = self.knobs
        # missing the goals: one bit of integer margin on every tensor, then WIDEN fractional
        # bits more (the base itself may miss them)
        for int_margin, frac_margin in ((0, 0), (1, 0), (1, WIDEN)):
            self.knobs = [FormatKnob(k.layer, k.key, k.int_bits + int_margin, k.frac + frac_margin)
                          if isinstance(k, FormatKnob) else k for k in trimmed]
            point, = self.batch("start", [start_state(self.knobs)])
            if self.feasible(point):
                return point
        return None

    def bisect(self, start):
        """Step 2: the lowest value of every knob alone whose loss stays within SHARE of the slack."""
        limits = {g: g.loss(start["metrics"]) + SHARE * (g.budget - g.loss(start["metrics"]))
                  for g in self.numeric_goals}
        state = start["state"]
        lo = {k.name: k.lowest - 1 for k in self.knobs}     # lo: infeasible (or below range)
        hi = {k.name: state[k.name] for k in self.knobs}    # hi: feasible
        while not self.exhausted:
            open_ = [k for k in self.knobs if hi[k.name] - lo[k.name] > 1]
            if not open_:
                break
            mids = {k.name: (lo[k.name] + hi[k.name]) // 2 for k in open_}
            points = self.batch("bisect", [{**state, name: v} for name, v in mids.items()])
            for (name, v), p in zip(mids.items(), points):
                if self.within(p, limits):
                    hi[name] = v
                else:
                    lo[name] = v
        return hi

    def combine(self, start, values):
        """Step 3: every knob at its bisected value, raised one step at a time until feasible."""
        state = dict(values)
        point, = self.batch("combine", [state])
        while not self.feasible(point) and not self.exhausted:
            raised = [k for k in self.knobs if state[k.name] < start["state"][k.name]]
            if not raised:
                return start
            cands = [{**state, k.name: state[k.name] + 1} for k in raised]
            points = self.batch("back-off", cands)
            ok = [p for p in points if self.feasible(p)]
            point = min(ok, key=lambda p: p["cost"]["total"]) if ok else \
                min(points, key=lambda p: (self.loss(p), p["cost"]["total"]))
            state = dict(point["state"])
        return point if self.feasible(point) else start

    def descend(self, point):
        """Step 4: one more step down on one knob at a time, keeping the one that saves most."""
        active = [k for k in self.knobs if point["state"][k.name] > k.lowest]
        while active and not self.exhausted:
            cands = [{**point["state"], k.name: point["state"][k.name] - 1} for k in active]
            points = self.batch("descend", cands)
            now = point["cost"]["total"]
            # a knob is frozen when its step misses a goal or saves nothing (a format no
            # multiplier or table reads: lower is free, and step 2 already took it down)
            saving = [(k, p) for k, p in zip(active, points)
                      if self.feasible(p) and p["cost"]["total"] < now]
            if not saving:
                break
            point = min(saving, key=lambda kp: (kp[1]["cost"]["total"], kp[1]["id"]))[1]
            kept = {k.name for k, _ in saving}
            active = [k for k in active if k.name in kept and point["state"][k.name] > k.lowest]
        return point

    def reuse(self, point, factors):
        """The best configuration at each reuse factor, with its timing."""
        from ..flow import with_reuse
        configs = [with_reuse(point["config"], r) for r in factors]
        pts = self.evaluate("reuse", configs, [point["state"]] * len(configs), timing=True)
        for (p, _), r in zip(pts, factors):
            p["reuse"] = r
        return [p for p, _ in pts]


def _metric_text(point, goals) -> str:
    return ", ".join(f"{g.metric} {point['metrics'].get(g.metric)!s:.6}" for g in goals)


def pareto(points, goal: Goal) -> list[dict]:
    """Points no other point beats on both cost (lower) and ``goal``'s loss (lower)."""
    ok = [p for p in points if p["error"] is None and p["metrics"].get(goal.metric) is not None]
    ok.sort(key=lambda p: (p["cost"]["total"], goal.loss(p["metrics"]), p["id"]))
    front, best_loss = [], float("inf")
    for p in ok:
        loss = goal.loss(p["metrics"])
        if loss < best_loss:
            front.append(p)
            best_loss = loss
    return front


def check_request(goals, base_config: dict, reuse):
    """Refuse what no search can do, before any worker starts: a base of another numerics profile,
    a timing goal without reuse factors to choose from."""
    if base_config.get("numerics", "default") != "default":
        raise ConfigError(f"explore searches the formats of numerics: default; the configuration "
                          f"has numerics: {base_config['numerics']} (remove it, or choose its "
                          "formats by hand)")
    timing_goals = [g for g in goals if g.metric not in NUMERIC]
    if timing_goals and not reuse:
        raise ConfigError(f"goal {timing_goals[0]} bounds the timing; give the reuse factors to "
                          "choose from with --reuse R1,R2,...")


def search(runner, goals, base_config: dict, *, input_name: str, reuse=None,
           max_evaluations: int = MAX_EVALUATIONS, log=lambda text: None) -> SearchResult:
    """Search for the cheapest configuration of ``runner.problem``'s model meeting ``goals``.

    ``base_config`` is a plain configuration dict (``numerics: default``); ``reuse``, reuse
    factors to cost the best configuration at (needed by ``ii`` / ``latency`` goals). Returns a
    :class:`SearchResult` whose points are marked ``pareto`` and ``best``."""
    check_request(goals, base_config, reuse)
    s = _Search(runner, tuple(goals), copy.deepcopy(base_config), input_name, max_evaluations, log)
    start = s.start()
    best = None
    if start is None:
        log("the trimmed start misses the goals; keeping the base configuration")
        best = s.base if s.feasible(s.base) else None
    else:
        log(f"trimmed start: cost {start['cost']['total']:,.0f}, {_metric_text(start, s.numeric_goals)}")
        values = s.bisect(start)
        log(f"bisection: {s.spent} evaluations")
        point = s.combine(start, values)
        log(f"combined: cost {point['cost']['total']:,.0f}, {_metric_text(point, s.numeric_goals)}")
        best = s.descend(point)
        log(f"descent: cost {best['cost']['total']:,.0f}, {_metric_text(best, s.numeric_goals)}")
    if best is not None and reuse:
        candidates = s.reuse(best, reuse)
        ok = [p for p in candidates if s.feasible(p, goals)]
        best = min(ok, key=lambda p: (p["cost"]["total"], p["id"])) if ok else None
    if best is None:
        achieved = min(s.points, key=lambda p: (s.loss(p), p["id"]))
        raise FlowError(f"no configuration met {', '.join(map(str, goals))}: the best found has "
                        f"{_metric_text(achieved, s.numeric_goals)} (the base: "
                        f"{_metric_text(s.base, s.numeric_goals)}); loosen the goal or start from "
                        "wider formats (-c)")
    front = {p["id"] for p in pareto(s.points, s.numeric_goals[0])}
    for p in s.points:
        p["pareto"] = p["id"] in front
        p["best"] = p["id"] == best["id"]
    return SearchResult(points=s.points, base=s.base, best=best, knobs=s.knobs)
