"""Reading a written core's ``manifest.json``, checked, for every client (simulate, build); and
its per-matrix ``matrices`` section (:func:`matrix_entries`).

``Design.write`` writes the manifest (:mod:`rnnrtl.writer`); this module is its reader. A damaged
output folder — a manifest that is not JSON, lacks a key its readers need, or names a Verilog or
vectors file that is missing — is a :class:`~rnnrtl.errors.FlowError` naming the file and what
to do, never a ``KeyError`` deep inside a simulator or a build.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import FlowError

__all__ = ["load_manifest", "input_layout", "REQUIRED_KEYS", "matrix_entries"]

#: Top-level keys every reader relies on, with the type each must have.
REQUIRED_KEYS = {"top": str, "verilog": str, "clock": dict, "reset": dict, "ports": list,
                 "input": dict, "output": dict, "timing": dict, "vectors": dict}
_REWRITE = "write it again with `rnnrtl convert MODEL -o {outdir}`"


def load_manifest(outdir, *, need_vectors: bool = False) -> dict:
    """The manifest of the core written in ``outdir``, checked.

    Checks that ``manifest.json`` is a JSON object with :data:`REQUIRED_KEYS` of the right types,
    that the Verilog it names exists (and the RTLIL, when named), and with ``need_vectors`` that
    the vectors file exists and the manifest says how many samples it holds."""
    outdir = Path(outdir)
    path = outdir / "manifest.json"
    rewrite = _REWRITE.format(outdir=outdir)
    if not path.is_file():
        raise FlowError(f"{str(outdir)!r} holds no manifest.json; {rewrite}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FlowError(f"{str(path)!r} is not valid JSON ({e}); {rewrite}") from None
    if not isinstance(manifest, dict):
        raise FlowError(f"{str(path)!r} is not a JSON object; {rewrite}")
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(manifest.get(key), kind):
            what = "lacks" if key not in manifest else f"has a {type(manifest[key]).__name__} for"
            raise FlowError(f"{str(path)!r} {what} {key!r} (incomplete or damaged); {rewrite}")
    for key in ("verilog", "rtlil"):
        if key in manifest and not (outdir / str(manifest[key])).is_file():
            raise FlowError(f"{str(outdir / str(manifest[key]))!r} named by the manifest is missing; "
                            f"{rewrite}")
    if need_vectors:
        vectors = manifest["vectors"]
        if not isinstance(vectors.get("file"), str) or not isinstance(vectors.get("samples"), int):
            raise FlowError(f"{str(path)!r} does not say where its test vectors are; {rewrite}")
        if not (outdir / vectors["file"]).is_file():
            raise FlowError(f"{str(outdir / vectors['file'])!r} named by the manifest is missing; "
                            f"{rewrite}")
    return manifest


def input_layout(core) -> dict:
    """The keys of the manifest's ``input`` section that say what a beat holds beyond ``lanes``
    and ``beats_per_sequence``, for a :class:`~rnnrtl.hw.network.NetworkCore` ``core``.

    ``input: step`` (the default) adds none: a beat is one time step (``per_beat`` absent means
    ``step``, so every manifest written before stays as it was). ``input: sequence`` adds
    ``per_beat: sequence``, ``features``, ``timesteps`` and ``order``: one beat of
    ``timesteps × features`` lanes, step-major. Either way a client sends a sequence's codes
    ``[T, F]`` as ``beats_per_sequence`` beats of ``len(lanes)`` codes: the same array reshaped,
    row-major."""
    if core.input != "sequence":
        return {}
    return {
        "per_beat": "sequence",
        "features": core.network.in_features,
        "timesteps": core.network.timesteps,
        "order": "step-major: lane t*features + f is feature f of time step t",
        "tlast": "high on every beat (each beat is a whole sequence; the core ignores it)",
    }


def matrix_entries(network) -> list:
    """The manifest's ``matrices``: per matrix-vector unit of IR ``network``
    (:func:`rnnrtl.schedule.matrix_units`, each direction of a Bidirectional its own layer), its
    ``layer``, ``matrix``, ``rows``, ``cols``, ``reuse``, ``multiplier`` (the kind built: ``dsp``
    or ``lut``; ``auto`` resolved), ``multipliers`` (``*`` operators), ``copies`` (cells built:
    ``T`` for an unrolled layer), and for ``lut`` the cost model of its shift-and-add
    (:meth:`rnnrtl.constmul_plan.ConstMulPlan.cost`: adders, their widths, ``adder_bits`` (the LUT
    estimate), pipeline ``stages`` and ``register_bits``), the same figures as the hardware's
    :meth:`rnnrtl.hw.matvec.MatVec.cost`."""
    from .constmul_plan import matrix_plan
    from .hw.pipelining import Pipelining
    from .schedule import matrix_units, unit_rows, unit_x_type
    out = []
    for layer in network.flat_layers:
        units = matrix_units(layer)
        unrolled = layer.kind != "dense" and layer.schedule.mode == "unrolled"
        pipelining = Pipelining.of(layer.schedule)
        pipelined, registered = pipelining.product > 0, pipelining.terms > 0
        for unit in units:
            entry = {"layer": layer.name, "matrix": unit.name, "rows": unit.rows, "cols": unit.cols,
                     "reuse": unit.reuse, "multiplier": unit.multiplier,
                     "multipliers": unit.multipliers,
                     "copies": network.timesteps if unrolled else 1}
            if unit.multiplier == "lut":
                w = layer.kernel if unit.source == "input" else layer.recurrent
                codes = [[int(v) for v in row] for row in w.codes[unit_rows(unit, units)]]
                entry.update(matrix_plan(codes, unit_x_type(layer, unit), unit.reuse).cost(pipelined, registered))
            out.append(entry)
    return out
