"""Where evaluations run: in this process, or as Dask tasks; every result cached on disk.

A :class:`Runner` takes a batch of candidate configurations, answers what the cache
(:class:`Cache`) already holds, runs the rest (one task each) and stores their results, so a rerun
or a run resumed after an interruption recomputes nothing. The cache key is the content hash of
the problem (float model, data, float outputs, labels), the candidate configuration and what was
asked of it (:func:`rnnrtl.explore.task.content_hash`).

:class:`DaskRunner` scatters the :class:`~rnnrtl.explore.task.Problem` to every worker once and
submits :func:`~rnnrtl.explore.task.run_point` per candidate: on a ``LocalCluster`` it starts (one
single-threaded worker process per ``workers``), or on an existing cluster (``scheduler``, e.g.
``tcp://HOST:8786``, how a dask-jobqueue SLURM / HTCondor cluster is reached). Results are taken
in submission order, so the search's decisions never depend on which worker finished first.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import FlowError
from .task import Problem, canonical, content_hash, run_point

__all__ = ["Cache", "Runner", "InProcessRunner", "DaskRunner", "default_cache_dir",
           "check_reachable"]


def default_cache_dir() -> Path:
    """``$RNNRTL_CACHE/explore``, else ``~/.cache/rnnrtl/explore``."""
    root = os.environ.get("RNNRTL_CACHE") or Path.home() / ".cache" / "rnnrtl"
    return Path(root) / "explore"


def check_reachable(address: str, timeout: float = 10):
    """A :class:`FlowError` at once when nothing listens at a ``tcp://HOST:PORT`` scheduler address
    (Dask's client would retry until its timeout); other protocols are left to Dask."""
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp":
        return
    try:
        host, port = parts.hostname, parts.port or 8786
    except ValueError:
        raise FlowError(f"--scheduler {address}: not an address like tcp://HOST:8786") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise FlowError(f"--scheduler {address}: no Dask scheduler answers there "
                        f"({e.strerror or e}); start one with `dask scheduler`, or omit "
                        "--scheduler for a local cluster") from None


class Cache:
    """Results by key, one JSON file each (written atomically: a killed run leaves no half entry)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FlowError(f"cache folder {str(self.folder)!r} cannot be created: "
                            f"{e.strerror or e}") from None

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str):
        try:
            return json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict):
        path = self._path(key)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        os.replace(tmp, path)


class Runner:
    """Runs batches of evaluations of one :class:`Problem`, through a :class:`Cache`.

    ``evaluated``: evaluations actually run; ``cached``: answered from the cache. ``progress``
    (optional) is called as ``progress(done, running, waiting)`` while a batch runs."""

    workers = 1

    def __init__(self, problem: Problem, cache: Cache | None, progress=None):
        self.problem = problem
        self.cache = cache
        self.progress = progress
        self.evaluated = 0
        self.cached = 0
        #: Evaluations per batch actually run: a batch waits for its slowest task, so with ``W``
        #: workers the search takes about ``sum(ceil(b / W))`` evaluation times.
        self.batches: list[int] = []

    def key(self, config: dict, options: dict) -> str:
        return content_hash(self.problem.key, canonical(config), canonical(options))

    def run(self, configs, **options) -> list[dict]:
        """Results of :func:`run_point` for every configuration of ``configs``, in order."""
        keys = [self.key(c, options) for c in configs]
        results = [self.cache.get(k) if self.cache else None for k in keys]
        todo = [i for i, r in enumerate(results) if r is None]
        self.cached += len(configs) - len(todo)
        if todo:
            fresh = self._compute([configs[i] for i in todo], options)
            for i, r in zip(todo, fresh):
                results[i] = r
                if self.cache:
                    self.cache.put(keys[i], r)
            self.evaluated += len(todo)
            self.batches.append(len(todo))
        return results

    def _compute(self, configs, options) -> list[dict]:
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class InProcessRunner(Runner):
    """Evaluations one after the other in this process (no Dask)."""

    def _compute(self, configs, options):
        out = []
        for i, config in enumerate(configs):
            if self.progress:
                self.progress(i, 1, len(configs) - i - 1)
            out.append(run_point(self.problem, config, **options))
        if self.progress:
            self.progress(len(configs), 0, 0)
        return out


class DaskRunner(Runner):
    """Evaluations as Dask tasks: on a new ``LocalCluster`` of ``workers`` processes, or on the
    cluster whose scheduler is at ``scheduler``."""

    def __init__(self, problem, cache, progress=None, *, scheduler: str | None = None,
                 workers: int | None = None, timeout: float = 10):
        super().__init__(problem, cache, progress)
        from dask.distributed import Client, LocalCluster
        self._cluster = None
        if scheduler is not None:
            check_reachable(scheduler, timeout)
            try:
                self.client = Client(scheduler, timeout=f"{timeout}s")
            except (OSError, TimeoutError, ValueError) as e:
                raise FlowError(f"--scheduler {scheduler}: no Dask scheduler answers there "
                                f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); start one "
                                "with `dask scheduler`, or omit --scheduler for a local "
                                "cluster") from None
        else:
            n = workers or min(os.cpu_count() or 1, 4)
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        self.workers = max(1, sum(self.client.nthreads().values()))
        self._problem = None

    def _compute(self, configs, options):
        from dask.distributed import as_completed
        if self._problem is None:    # sent once, to every worker
            self._problem = self.client.scatter(self.problem, broadcast=True, hash=False)
        futures = [self.client.submit(run_point, self._problem, c, pure=False, **options)
                   for c in configs]
        done = 0
        if self.progress:
            running = min(len(futures), self.workers)
            self.progress(0, running, len(futures) - running)
        for _ in as_completed(futures):
            done += 1
            if self.progress:
                running = min(len(futures) - done, self.workers)
                self.progress(done, running, len(futures) - done - running)
        return self.client.gather(futures)

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
