"""Reading a ``torch.export`` program file (``.pt2``) safely: what :func:`check_pt2` refuses
before ``torch.export.load`` may see the file.

``torch.export.load`` is not safe on an untrusted file as it is: it
unpickles weights and constants marked ``use_pickle`` (``torch.load(weights_only=False)``), custom
and opaque objects (``pickle.loads``), legacy ``.pt`` weight files, and the sample inputs when a
``weights_only=True`` load fails; it loads AOTInductor shared libraries; it passes the shape
expressions it finds to ``sympy.sympify`` (which evaluates Python); and ``ExportedProgram.module()``
compiles the stored ``guards_code``. :func:`check_pt2` reads the archive as a zip of JSON and raw
tensor bytes first and refuses every one of those (and any op outside :data:`SUPPORTED_OPS`) before
``torch.export.load`` sees the file; the sample inputs are checked to load with
``weights_only=True``. (A ``.pt`` / ``.pth`` pickle never gets here:
:func:`rnnrtl.torch_frontend.load_pt2` refuses it unopened.)
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from pathlib import Path

from .errors import UnsupportedModelError
from .torch_ops import SUPPORTED_OPS, SUPPORTED_TEXT, import_torch, module_of, unsupported_op

__all__ = ["check_pt2", "safe_expr"]

#: Calls a shape expression may make (sympy constructors, as torch writes expressions such as
#: ``Mul(Integer(4), Symbol('s77', positive=True, integer=True))``).
_SYMPY_CALLS = frozenset({"Symbol", "Integer", "Rational", "Mul", "Add", "Pow", "Max", "Min",
                          "FloorDiv", "CeilDiv", "Mod", "PythonMod", "CleanDiv", "floor", "ceiling"})


def safe_expr(text) -> bool:
    """Whether ``text`` is a shape expression ``sympy.sympify`` (which evaluates Python) can be
    given: names, numbers, arithmetic and calls of :data:`_SYMPY_CALLS` with literal arguments —
    no attributes, subscripts, lambdas or other calls. Decided on the syntax tree, never run."""
    try:
        tree = ast.parse(str(text), mode="eval")
    except (SyntaxError, ValueError):
        return False
    plain = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Add,
             ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
             ast.keyword)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _SYMPY_CALLS):
                return False
        elif not isinstance(node, plain):
            return False
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            return False
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool)):
            return False
    return True


def check_pt2(path) -> None:
    """Refuse a ``.pt2`` file that ``torch.export.load`` could not load without running code from it
    or unpickling objects (see the module docstring), or whose graph holds an unsupported op.
    Reads the file as a zip only."""
    path = Path(path)
    where = f"model file {str(path)!r}"
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        empty = " (the file is empty)" if path.stat().st_size == 0 else ""
        raise UnsupportedModelError(f"{where} is not a torch.export program (a zip archive){empty}; "
                                    "save one with torch.export.save(torch.export.export(model, "
                                    "(x,)), 'model.pt2')") from None
    with zf:
        names = zf.namelist()
        formats = [n for n in names if n.endswith("/archive_format") and n.count("/") == 1]
        if len(formats) != 1 or zf.read(formats[0]).strip() != b"pt2":
            raise UnsupportedModelError(
                f"{where} is not a PT2 archive written by torch.export.save (no archive_format "
                "'pt2'; a torch.save or older torch.export file is not read, as loading it would "
                "unpickle objects); re-save it with torch.export.save")
        root = formats[0].split("/")[0] + "/"
        models = [n for n in names if n.startswith(root + "models/") and n.endswith(".json")]
        if models != [root + "models/model.json"]:
            raise UnsupportedModelError(f"{where} holds {len(models)} programs "
                                        f"({', '.join(models) or 'none'}); expected one, 'model'")
        for name in names:
            rel = name[len(root):]
            if not _allowed_member(rel):
                raise UnsupportedModelError(
                    f"{where}: archive member {rel!r} is refused (rnnrtl reads only a program's "
                    "JSON, raw tensor data and sample inputs: no pickled objects, custom objects or "
                    "compiled code)")
        for rel, prefix in (("data/weights/model_weights_config.json", "weight_"),
                            ("data/constants/model_constants_config.json", "tensor_")):
            if root + rel not in names:
                if prefix == "weight_":
                    raise UnsupportedModelError(f"{where}: the archive has no {rel}")
                continue
            config = _json(zf.read(root + rel), f"{where}: {rel}")
            for fqn, meta in (config.get("config") or {}).items():
                if not isinstance(meta, dict) or meta.get("use_pickle") is not False or \
                        not str(meta.get("path_name", "")).startswith(prefix):
                    raise UnsupportedModelError(
                        f"{where}: {fqn!r} is stored as a pickled or custom object; rnnrtl loads "
                        "only plain tensors (export a module whose parameters are ordinary tensors)")
        program = _json(zf.read(root + "models/model.json"), f"{where}: models/model.json")
        _check_program_json(program, where)
        samples = root + "data/sample_inputs/model.pt"
        if samples in names:
            try:
                import_torch().load(io.BytesIO(zf.read(samples)), weights_only=True)
            except Exception as e:  # noqa: BLE001 — torch's restricted unpickler refused it
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise UnsupportedModelError(
                    f"{where}: its sample inputs do not load with weights_only=True ({first}); "
                    "they are refused rather than unpickled") from None


def _allowed_member(rel: str) -> bool:
    if rel in ("archive_format", "archive_version", "byteorder", ".data/version",
               ".data/serialization_id", "models/model.json", "data/sample_inputs/model.pt"):
        return True
    if rel.startswith("extra/"):
        return True  # read as text (extra_files), never executed
    if rel.startswith("data/weights/"):
        return re.fullmatch(r"weight_\d+|model_weights_config\.json", rel[13:]) is not None
    if rel.startswith("data/constants/"):
        return re.fullmatch(r"tensor_\d+|model_constants_config\.json", rel[15:]) is not None
    return False


def _json(raw: bytes, where: str) -> dict:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnsupportedModelError(f"{where} is not UTF-8 JSON ({e})") from None
    if not isinstance(value, dict):
        raise UnsupportedModelError(f"{where} holds a JSON {type(value).__name__}, not an object")
    return value


def _check_program_json(program: dict, where: str):
    """The serialized program: no guards code, only plain shape symbols, only supported ops."""
    if program.get("guards_code"):
        raise UnsupportedModelError(f"{where}: the program carries guard code, which rnnrtl does "
                                    "not run; export with static shapes or plain dynamic dims")
    for key in (program.get("range_constraints") or {}):
        if not safe_expr(key):
            raise UnsupportedModelError(f"{where}: shape constraint {key!r} is refused (only "
                                        "symbols, numbers and arithmetic are read)")

    def walk(value):
        if isinstance(value, dict):
            if "expr_str" in value and not safe_expr(value["expr_str"]):
                raise UnsupportedModelError(f"{where}: shape expression {value['expr_str']!r} is "
                                            "refused (only symbols, numbers and arithmetic are "
                                            "read: sympy would evaluate it as Python)")
            for key in ("as_graph", "as_custom_obj", "as_custom_objs", "as_operator"):
                if key in value:
                    raise UnsupportedModelError(f"{where}: the program passes a {key[3:]} as an "
                                                "argument; rnnrtl supports " + SUPPORTED_TEXT)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    graph = (program.get("graph_module") or {}).get("graph") or {}
    for node in graph.get("nodes") or []:
        target = str(node.get("target", ""))
        op = target.removeprefix("torch.ops.")
        if op not in SUPPORTED_OPS:
            stack = str((node.get("metadata") or {}).get("nn_module_stack", ""))
            raise UnsupportedModelError(f"{where}: {unsupported_op(op, module_of(stack))}")
    walk(program)
