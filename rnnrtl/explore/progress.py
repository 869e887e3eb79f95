"""A rich progress bar of the search's evaluations: done / running / waiting, batch by batch."""

from __future__ import annotations

__all__ = ["ProgressBar"]


class ProgressBar:
    """``with ProgressBar(console) as bar: explore(..., progress=bar.update, log=bar.log)``.

    The search plans its evaluations a batch at a time, so the bar's total grows as batches are
    submitted; cached results never reach it (they take no time)."""

    def __init__(self, console):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        self.console = console
        self._progress = Progress(
            TextColumn("[bold]evaluations"), BarColumn(),
            TextColumn("{task.fields[done]} done · {task.fields[running]} running · "
                       "{task.fields[waiting]} waiting"), TimeElapsedColumn(),
            console=console, transient=False)
        self._task = None
        self._finished = 0       # evaluations of earlier batches
        self._batch = 0

    def __enter__(self):
        self._progress.start()
        self._task = self._progress.add_task("explore", total=0, done=0, running=0, waiting=0)
        return self

    def __exit__(self, *exc):
        self._progress.stop()

    def update(self, done: int, running: int, waiting: int):
        size = done + running + waiting
        if done == 0:                 # a new batch
            self._finished += self._batch
            self._batch = size
        total_done = self._finished + done
        self._progress.update(self._task, total=self._finished + size, completed=total_done,
                              done=total_done, running=running, waiting=waiting)

    def log(self, text: str):
        self._progress.console.print(f"[dim]·[/] {text}", soft_wrap=True)
