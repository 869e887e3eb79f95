"""nextpnr seeds: a user's list of them, and the best of several runs.

Placement is a search from a random start: one seed's Fmax can be several MHz (or a failed
route) away from another's. ``rnnrtl build --seeds 1,2,3`` runs nextpnr once per seed and keeps
the best run, reporting every one. The runs go side by side, as many at once as the machine has
cores (:func:`side_by_side`): each tool run is one thread.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from ..errors import ConfigError

__all__ = ["MAX_SEEDS", "parse_seeds", "check_seeds", "best_run", "cores", "side_by_side"]

#: Most seeds one build runs (each one is a whole place and route: minutes on a large design).
MAX_SEEDS = 16


def parse_seeds(text: str, option: str = "--seeds") -> tuple[int, ...]:
    """The seeds of a comma-separated list such as ``"1,2,3"`` (spaces allowed), in order.

    Raises :class:`~rnnrtl.errors.ConfigError` naming ``option`` for an empty list or item, an
    item that is not a whole number >= 0, a seed given twice, or more than :data:`MAX_SEEDS`."""
    items = [item.strip() for item in str(text).split(",")]
    if any(not item for item in items):
        raise ConfigError(f"{option} {text!r} has an empty item; give comma-separated whole "
                          f"numbers >= 0, e.g. 1,2,3")
    seeds = []
    for item in items:
        if not item.isdigit():
            raise ConfigError(f"{option} {text!r}: {item!r} is not a seed; seeds are whole "
                              f"numbers >= 0, e.g. 1,2,3")
        seeds.append(int(item))
    return check_seeds(seeds, option)


def check_seeds(seeds, option: str = "seeds") -> tuple[int, ...]:
    """``seeds`` as a tuple, checked: at least one, at most :data:`MAX_SEEDS`, each a whole number
    >= 0, none twice (:class:`~rnnrtl.errors.ConfigError` naming ``option`` otherwise)."""
    seeds = tuple(seeds)
    if not seeds:
        raise ConfigError(f"{option}: no seed given; give at least one, e.g. 1")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"{option}: {len(seeds)} seeds; at most {MAX_SEEDS} (each is a whole "
                          f"place and route)")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ConfigError(f"{option}: seed {s!r} is not a whole number >= 0")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"{option}: seed {repeated[0]} is given twice; each seed once")
    return seeds


def best_run(runs: list[dict]) -> dict:
    """The run of the highest ``fmax_mhz`` (a run without one counts lowest; the first of equals)."""
    if not runs:
        raise ValueError("no runs")
    return max(runs, key=lambda r: -1.0 if r.get("fmax_mhz") is None else r["fmax_mhz"])


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def side_by_side(run, items) -> list:
    """``[run(item) for item in items]``, as many calls at once as there are :func:`cores` (each
    call waits for a tool's process); the first exception raised is raised once all are done."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), cores()))) as pool:
        return list(pool.map(run, items))
