"""Users' own generators, augmenters, teachers and students: the protocols, resolution and checks.

A plugin is named wherever a built-in name goes (``inductive_bias.models``, ``mlda.augmenters``,
``mlda.teachers``, ``mlda.students``), either as an import path ``"package.module:ClassName"`` or
as the name of an entry point in the group of its kind (``tabaug_ray.generators``,
``tabaug_ray.augmenters``, ``tabaug_ray.teachers``, ``tabaug_ray.students``); its keyword
arguments go where the built-ins' do (``inductive_bias.model_params``, ``mlda.augmenter_params``,
``mlda.teacher_params``, ``mlda.student_params``, keyed by the same name).

``check_config`` (run by ``load_config``, before anything is planned) imports every plugin, checks
that the class has the methods of its kind's protocol and accepts its keyword arguments; a problem
is one line naming the config field (exit code 2). Unit keys hash each plugin's import path and
version (``version`` / ``__version__`` on the class, else its distribution's version, else a hash
of its module's source), so a changed plugin gets new keys and resume works as for built-ins.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from tabaug_ray.errors import TabaugError


@runtime_checkable
class GeneratorProtocol(Protocol):
    """A generator: model-space rows in and out (see ``tabaug_ray.generators.base``).

    Optional class attributes: ``warm_start`` (``fit(..., init=fitted)``: Pre-train), ``version``.
    """

    def fit(self, X: np.ndarray, *, schema: Any, seed: int) -> Any: ...

    def sample(self, n: int, *, seed: int) -> np.ndarray: ...


@runtime_checkable
class AugmenterProtocol(Protocol):
    """An MLDA-kind augmenter: real rows in, ONLY the n synthetic rows out."""

    def fit(self, X: np.ndarray, y: np.ndarray, *, categorical: Sequence[int] = ()) -> Any: ...

    def augment(self, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]: ...


@runtime_checkable
class TeacherProtocol(Protocol):
    """A regressor fitted once on the real rows; labels synthetic rows. Constructed with ``seed=``."""

    def fit(self, X: np.ndarray, y: np.ndarray, *, categorical: Sequence[int] = ()) -> Any: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class StudentProtocol(Protocol):
    """A regressor trained on real + synthetic rows, early-stopped on real ``validation`` rows.
    Constructed with ``seed=``."""

    def fit(self, X: np.ndarray, y: np.ndarray, *, synthetic: tuple | None = None, categorical: Sequence[int] = (),
            validation: tuple | None = None) -> Any: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


PROTOCOLS: dict[str, type] = {"generator": GeneratorProtocol, "augmenter": AugmenterProtocol,
                              "teacher": TeacherProtocol, "student": StudentProtocol}
METHODS = {"generator": ("fit", "sample"), "augmenter": ("fit", "augment"), "teacher": ("fit", "predict"),
           "student": ("fit", "predict")}
RUNTIME_PARAMS = {"generator": ("n_threads",), "teacher": ("seed",), "student": ("seed",), "augmenter": ()}


def group(kind: str) -> str:
    return f"tabaug_ray.{kind}s"


@lru_cache(maxsize=None)
def _entry_points(kind: str) -> dict[str, str]:
    return {ep.name: ep.value for ep in metadata.entry_points(group=group(kind))}


def target(kind: str, name: str) -> str | None:
    """The import path a plugin name stands for ("module:Class"), or None when it is not a plugin."""
    if ":" in name:
        return name
    return _entry_points(kind).get(name)


def is_plugin(kind: str, name: str) -> bool:
    return target(kind, name) is not None


@lru_cache(maxsize=None)
def load(kind: str, name: str) -> type:
    """The plugin class named ``name`` (import path or entry point), checked against its kind's protocol."""
    path = target(kind, name)
    if path is None:
        raise TabaugError(f"{name!r} is not a {kind} plugin ('package.module:ClassName' or an entry point "
                          f"of group {group(kind)})")
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise TabaugError(f"plugin {path!r}: expected 'package.module:ClassName'")
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.append(str(Path.cwd()))  # as `python -m` does: modules of the working directory import
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's module is a config error
        raise TabaugError(f"cannot import plugin {path!r}: {type(exc).__name__}: {exc}") from None
    if not inspect.isclass(obj):
        raise TabaugError(f"plugin {path!r} is not a class")
    missing = [m for m in METHODS[kind] if not callable(getattr(obj, m, None))]
    if missing:
        raise TabaugError(f"plugin {path!r} is not a {kind}: it lacks {', '.join(missing)} "
                          f"(the {PROTOCOLS[kind].__name__} needs {', '.join(METHODS[kind])})")
    return obj


def check_params(cls: type, params: Mapping[str, Any], *, what: str) -> None:
    """``cls(**params)`` must bind (keyword arguments the constructor accepts)."""
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as exc:
        raise TabaugError(f"{what} rejects its keyword arguments {sorted(params)}: {exc}") from None


def build(kind: str, name: str, **params: Any) -> Any:
    """An instance of a plugin; runtime settings (``n_threads``) only where the constructor takes them."""
    cls = load(kind, name)
    sig = inspect.signature(cls).parameters
    runtime = set(RUNTIME_PARAMS[kind])
    kwargs = {k: v for k, v in params.items() if k not in runtime or k in sig
              or any(p.kind is p.VAR_KEYWORD for p in sig.values())}
    check_params(cls, kwargs, what=f"plugin {name!r}")
    return cls(**kwargs)


@lru_cache(maxsize=None)
def identity(kind: str, name: str) -> dict[str, str]:
    """What a unit key hashes for a plugin: its import path and version."""
    cls = load(kind, name)
    version = getattr(cls, "version", None) or getattr(cls, "__version__", None)
    if not version:
        try:
            version = metadata.version(cls.__module__.split(".")[0])
        except metadata.PackageNotFoundError:
            source = inspect.getsourcefile(cls)
            digest = hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16] if source else "unknown"
            version = f"source-{digest}"
    return {"plugin": target(kind, name), "version": str(version)}


BUILTIN_PREFIXES = ("teacher:", "reference:")
"""Model names the pipelines give their own rows (`teacher:tpot`, `reference:lightgbm_default`): they
contain a colon but name no plugin."""

KEY_PARTS = {"model": "generator", "generator": "generator", "augmenter": "augmenter", "teacher": "teacher",
             "student": "student"}  # unit-key parts that may name a plugin, and its kind


def key_parts(parts: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Plugin identities of every plugin named among a unit key's parts ({} when there is none)."""
    found = {}
    for part, value in parts.items():
        kind = KEY_PARTS.get(part)
        if not kind or not isinstance(value, str) or value.startswith(BUILTIN_PREFIXES):
            continue
        if kind == "augmenter" and value.startswith("mlda_") and is_plugin("generator", value[5:]):
            found[value] = identity("generator", value[5:])
        elif is_plugin(kind, value):
            found[value] = identity(kind, value)
    return found


def _fields(config) -> list[tuple[str, str, str, Mapping[str, Any]]]:
    """(kind, field path, name, keyword arguments) of every pluggable name the config uses."""
    out = []
    if config.experiment.kind == "inductive_bias":
        ib = config.inductive_bias
        out += [("generator", f"inductive_bias.models[{i}]", m, ib.model_params.get(m, {}))
                for i, m in enumerate(ib.models)]
    else:
        m = config.mlda
        out += [("augmenter", f"mlda.augmenters[{i}]", a, m.augmenter_params.get(a, {}))
                for i, a in enumerate(m.augmenters)]
        out += [("teacher", f"mlda.teachers[{i}]", t, m.teacher_params.get(t, {})) for i, t in enumerate(m.teachers)]
        out += [("student", f"mlda.students[{i}]", s, m.student_params.get(s, {})) for i, s in enumerate(m.students)]
    return out


def check_config(config, *, source: str | Path) -> None:
    """Every name a config uses is a built-in or an importable plugin of the right kind whose
    constructor accepts its keyword arguments; otherwise a one-line TabaugError naming the field."""
    from tabaug_ray.generators.base import builtin_generators

    builtins: dict[str, Any] = {"generator": builtin_generators()}
    if config.experiment.kind == "mlda":
        from tabaug_ray.augment import AUGMENTERS
        from tabaug_ray.config import AUGMENTER_NAMES
        from tabaug_ray.learners import STUDENTS, TEACHERS

        mlda_generators = {f"mlda_{g}" for g in builtins["generator"]}
        builtins.update(augmenter=set(AUGMENTER_NAMES) | set(AUGMENTERS) | mlda_generators, teacher=set(TEACHERS),
                        student=set(STUDENTS))
    for kind, field, name, params in _fields(config):
        try:
            if name in builtins[kind]:
                section = getattr(builtins[kind].get(name), "config_section", None) if kind == "generator" else None
                if section and params:
                    raise TabaugError(f"generator {name!r} takes its parameters from the [{section}] section, "
                                      f"not from model_params")
                if kind == "generator" and params:
                    check_params(builtins["generator"][name], params, what=f"generator {name!r}")
                continue
            if kind == "augmenter" and name.startswith("mlda_") and is_plugin("generator", name[5:]):
                load("generator", name[5:])
                continue
            if not is_plugin(kind, name):
                raise TabaugError(f"unknown {kind} {name!r} (built-ins: {', '.join(sorted(builtins[kind]))}; or a "
                                  f"plugin 'package.module:ClassName' or an entry point of group {group(kind)})")
            cls = load(kind, name)
            runtime = RUNTIME_PARAMS[kind]
            check_params(cls, {k: v for k, v in params.items() if k not in runtime}, what=f"plugin {name!r}")
        except TabaugError as exc:
            raise TabaugError(f"{source}: field '{field}': {exc}") from None
