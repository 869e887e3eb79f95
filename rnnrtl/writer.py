"""Emission: the Verilog core, its ``manifest.json`` and test vectors.

The manifest is the one description testbenches, scripts and users read: top module, clock and
reset, every port, the bit map and format of each payload lane, latency / II / multipliers per
layer and in total, the configuration used, and ``names``: each generated Verilog name (the top
module, the layers' submodules) -> the Keras name it comes from. Vectors are inputs and the
emulator's outputs, as integer codes (what the hardware sees) and floats. Identical units (the
stages of ``mode: unrolled``, twin queues ...) are one Verilog module, instantiated where each is
used (:mod:`rnnrtl.rtlil_dedup`; instance names keep their paths). With ``weights: file``
the weights and biases are moved out of the Verilog into ``weights/*.hex``
(:mod:`rnnrtl.weights_file`), listed in the manifest's ``weights`` section.
"""

from __future__ import annotations

import gc
import json
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .version import __version__
from .config import weights_kind
from .errors import ConfigError
from .fixed import FixedFormat
from .manifest import input_layout, matrix_entries
from .masking import manifest_entry, pad_randomly
from .rtlil_dedup import merge_identical

__all__ = ["verilog_name", "write_design", "lane_map", "to_rtlil", "rtlil_to_verilog",
           "MANIFEST_VERSION"]

MANIFEST_VERSION = 1


def verilog_name(name: str) -> str:
    """A Verilog module name from a model name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return name if re.match(r"[A-Za-z]", name) else f"rnn_{name}"


def lane_map(fmt: FixedFormat, lanes: int) -> list[dict]:
    """Where each lane sits in ``tdata`` and what format its bits are."""
    return [{"lane": k, "lsb": k * fmt.width, "width": fmt.width, "signed": fmt.signed,
             "frac_bits": fmt.frac_bits, "format": str(fmt)} for k in range(lanes)]


def _jsonable(obj):
    if isinstance(obj, FixedFormat):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _stream(kind, fmt, lanes, width, beats, tlast):
    prefix = "s_axis" if kind == "input" else "m_axis"
    return {"interface": prefix, "tdata": f"{prefix}_tdata", "tdata_width": width,
            "lanes": lane_map(fmt, lanes), "beats_per_sequence": beats, "tlast": tlast}


#: The oldest generation's threshold of Python's cyclic garbage collector while a write builds
#: the netlist (:func:`fewer_full_collections`; CPython's default is 10).
FULL_COLLECTION_THRESHOLD = 1000


@contextmanager
def fewer_full_collections():
    """Inside the block, Python's cyclic garbage collector runs a full pass (over every tracked
    object) at most once every :data:`FULL_COLLECTION_THRESHOLD` collections of its middle
    generation (CPython's default: 10); its young generations are collected as usual.
    The thresholds in force before are put back on exit. Only when objects are freed changes,
    never what the code computes.

    Why: Amaranth's netlist of a large core is millions of long-lived objects, and CPython
    starts a full pass as soon as the objects that survived the young generations since the
    last one are a quarter of those it holds, so the passes walk the growing netlist again and
    again (with the collector off, the conversion took about 45 % less time on the jet LSTM r1
    and on big-vu9p, issue 18). The price is memory: cyclic garbage that reached the oldest
    generation (the comb-cycle check's visited sets, Amaranth's format closures) waits longer
    for a full pass (the writes of the jet LSTM r1 and big-vu9p peak ~13 % higher)."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, max(old, FULL_COLLECTION_THRESHOLD))
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


def to_rtlil(top, name: str) -> str:
    """``top`` (a ``wiring.Component``) elaborated and converted to yosys RTLIL, as
    ``amaranth.back.rtlil.convert(top, name=name, emit_src=False)``: the one elaboration and
    netlist build of a write (the costly part: Amaranth builds and checks its bit-level netlist),
    with :func:`fewer_full_collections`."""
    from amaranth.back import rtlil
    with fewer_full_collections():
        return rtlil.convert(top, name=name, emit_src=False)


def rtlil_to_verilog(il_text: str) -> str:
    """The Verilog of an RTLIL text, byte for byte what ``amaranth.back.verilog.convert`` writes
    for the same design (its second half: yosys's ``read_rtlil; proc -nomux -norom;
    memory_collect; write_verilog -norename``), so a write converts its netlist once for both.
    Uses Amaranth 0.5's ``verilog._convert_rtlil_text`` (pinned ``<0.6`` in pyproject.toml; a test
    compares the result with ``verilog.convert``)."""
    from amaranth.back import verilog
    return verilog._convert_rtlil_text(il_text)


def write_design(design, outdir, *, x=None, samples: int = 256, seed: int = 0,
                 rtlil: bool = False) -> dict:
    """Write ``<top>.v``, ``manifest.json`` and ``vectors.npz`` for ``design`` into ``outdir``;
    with ``rtlil``, also ``<top>.il``: the same circuit as yosys's RTLIL (the Verilog is written
    from it), which yosys reads in seconds where its Verilog front end takes an hour on a core
    of thousands of multipliers. Both hold one module per distinct unit
    (:func:`rnnrtl.rtlil_dedup.merge_identical` of Amaranth's RTLIL).

    ``x`` are input sequences for the vectors (floats ``[batch, timesteps, features]``); without
    them, ``samples`` random sequences are drawn (standard normal, seed ``seed``; for a masked
    model, padded to random lengths by :func:`rnnrtl.masking.pad_randomly`). Either way they
    have the design's :attr:`~rnnrtl.design.Design.timesteps` steps (the manifest's timing is for
    that length). With ``weights: file`` the weight and bias memories' contents go to
    ``weights/*.hex`` instead of the Verilog (:mod:`rnnrtl.weights_file`; the RTLIL keeps
    them inline). Returns the paths written.

    Vectors of another length raise :class:`~rnnrtl.errors.ConfigError` before anything is
    converted or written. The emulator computes the vectors while yosys (a process of its own)
    writes the Verilog.
    """
    from amaranth.hdl import Shape
    from amaranth.lib import wiring

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    net = design.network
    top = design.hardware()      # built once: the Verilog, the RTLIL and the timing share it
    name = verilog_name(net.name)
    timing = design.timing
    T = timing.timesteps
    if x is None:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((samples, T, net.in_features))
        if net.mask_value is not None:  # variable-length sequences, padded (rnnrtl.masking)
            x = pad_randomly(x, net.mask_value, rng)
    elif np.ndim(x) == 3 and np.shape(x)[1] != T:
        raise ConfigError(f"the test vectors have {np.shape(x)[1]} time steps; the hardware's "
                          f"timing is for timesteps = {T}: give timesteps {np.shape(x)[1]}, or "
                          "vectors of that length")

    with fewer_full_collections():     # (to_rtlil's, kept up to the collect below)
        il_text = merge_identical(to_rtlil(top, name)).text
        with ThreadPoolExecutor(max_workers=1) as pool:
            # yosys writes the Verilog in a process of its own (the thread only waits for it)
            # while this one emulates the vectors and then collects the netlist's cyclic
            # garbage, the full pass fewer_full_collections put off: the two take different cores
            verilog = pool.submit(rtlil_to_verilog, il_text)
            result = design.run(x, trace=True, warn=False)
            out_beats = T if net.returns_sequence else 1
            y_codes = result.codes.reshape(len(x), out_beats, net.out_features)
            vec_path = outdir / "vectors.npz"
            np.savez_compressed(vec_path, x=np.asarray(x, dtype=np.float64),
                                x_codes=result.trace["input"].astype(np.int64),
                                y_codes=y_codes.astype(np.int64),
                                y=result.y.reshape(len(x), out_beats, net.out_features))
            gc.collect()
            text = verilog.result()
    moved, hex_paths = None, []
    if weights_kind(net.config) == "file":
        from .weights_file import move_to_files, write_hex
        text, moved = move_to_files(text, name)
        hex_paths = write_hex(outdir, moved)
    v_path = outdir / f"{name}.v"
    v_path.write_text(text)
    il_path = None
    if rtlil:
        il_path = outdir / f"{name}.il"
        il_path.write_text(il_text)

    last = net.layers[-1]
    host_softmax = getattr(last, "activation", None) is not None \
        and last.activation.function == "softmax" and last.activation.softmax is None
    inputs = _stream("input", net.input_fmt, top.core.in_lanes, top.in_width,
                     top.core.in_beats or T, "high on the last time step of a sequence")
    inputs.update(input_layout(top.core))  # what a beat holds (input: step | sequence)
    if net.mask_value is not None:
        inputs["masking"] = manifest_entry(net.mask_value, net.mask_code)
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "rnnrtl_version": __version__,
        "top": name,
        "verilog": v_path.name,
        **({"rtlil": il_path.name} if il_path else {}),
        "clock": {"name": "clk", "edge": "rising"},
        "reset": {"name": "rst", "active": "high", "synchronous": True},
        "ports": [{"name": pname, "direction": "in" if member.flow == wiring.In else "out",
                   "width": Shape.cast(member.shape).width}
                  for pname, member in top.signature.members.items()],
        "input": inputs,
        "output": _stream("output", net.output_fmt, net.out_features, top.out_width, out_beats,
                          "high on the last beat of a sequence's result"),
        "output_activation": "softmax, applied by the host to the output logits" if host_softmax else None,
        "timing": timing.to_dict(),
        "multipliers": timing.multipliers,
        "matrices": matrix_entries(net),
        **({} if moved is None else {"weights": _weights_entry(moved, name, top.core.names)}),
        "names": {"top": {name: net.name},
                  "layers": dict(top.core.names)},
        "config": _jsonable(net.config),
        "numerics": net.numerics,
        "vectors": {"file": vec_path.name, "samples": int(len(x)),
                    "arrays": {"x": "float inputs [samples, timesteps, features]",
                               "x_codes": "input lane codes [samples, timesteps, features]",
                               "y_codes": "expected output lane codes [samples, beats, lanes]",
                               "y": "emulator float outputs [samples, beats, lanes]"}},
    }
    m_path = outdir / "manifest.json"
    m_path.write_text(json.dumps(manifest, indent=1))
    return {"verilog": v_path, "manifest": m_path, "vectors": vec_path,
            **({"rtlil": il_path} if il_path else {}),
            **({"weights": hex_paths} if hex_paths else {})}


def _weights_entry(moved, top: str, layer_names: dict) -> dict:
    """The manifest's ``weights`` section of a ``weights: file`` core."""
    from .weights_file import WEIGHTS_FOLDER, manifest_entries
    return {"kind": "file", "folder": WEIGHTS_FOLDER,
            "format": "$readmemh: one word per line, hex digits; word k is memory address k; "
                      "paths relative to the folder the simulator or synthesis tool runs in",
            "files": manifest_entries(moved, top, layer_names)}
