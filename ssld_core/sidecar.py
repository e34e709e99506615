"""The JSON sidecar beside a backbone's weights (``student.json``, ``<teacher>.json``, ``<exported>.json``).

One typed description, written by distill, the built-in teachers, ``ssld-eval export`` and the converters,
and read by every task through the backbone loader. The fields the code acts on are typed: ``arch`` (the
timm model to build), ``model_kwargs`` (its timm kwargs, e.g. a ViT student's ``img_size``), ``data_config``
(the inputs its weights were made for, :class:`ssld_core.inputs.InputSpec`), ``method``, ``teachers`` and
``final_metrics`` (what a record says of a distilled student). Everything else that says where the weights
came from (the recipe, its hash, data manifests, library versions ...) lives under ``provenance``, free-form.

Reading is strict: a field this version does not know, a missing ``arch`` or a value of the wrong type is a
:class:`SidecarError` naming the file and the field. Sidecars written before this format (``student.json``
format 1 and unversioned teacher and export sidecars) are read by moving every field that is not typed here
under ``provenance``, and a legacy ``data`` block becomes the ``data_config``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssld_core.atomic import atomic_write_text
from ssld_core.inputs import InputSpec, InputSpecError, legacy_data_block, parse_input_spec

FORMAT = 2
KINDS = ("student", "teacher", "exported", "converted", "checkpoint")  # checkpoint: a sidecar a user wrote
_LEGACY_KINDS = {"exported-backbone": "exported"}


class SidecarError(ValueError):
    """A sidecar that does not validate; the message names the file and the field."""


@dataclass(frozen=True)
class TeacherEntry:
    """A teacher a student was distilled from."""

    arch: str
    weights_sha256: str = ""
    num_classes: int | None = None
    source: str = ""


@dataclass(frozen=True)
class BackboneMeta:
    """What a sidecar says of its weights (the issue's ``StudentMeta``, for every kind of backbone)."""

    arch: str
    kind: str
    data_config: InputSpec | None = None
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    method: str = ""  # the distillation method of a student ("supervised" for the baseline)
    teachers: tuple[TeacherEntry, ...] = ()
    final_metrics: Mapping[str, Any] = field(default_factory=dict)  # the student's own evaluation
    provenance: Mapping[str, Any] = field(default_factory=dict)  # free-form: where the weights came from
    format: int = FORMAT

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SidecarError(f"field 'kind' is {self.kind!r}; expected one of {KINDS}")

    @property
    def teacher_archs(self) -> str:
        """The teachers' archs joined with ``+`` (empty for a supervised baseline or a non-student)."""
        return "+".join(t.arch for t in self.teachers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format, "kind": self.kind, "arch": self.arch,
            "data_config": None if self.data_config is None else self.data_config.to_block(),
            "model_kwargs": dict(self.model_kwargs), "num_classes": self.num_classes, "method": self.method,
            "teachers": [t.__dict__ for t in self.teachers], "final_metrics": dict(self.final_metrics),
            "provenance": dict(self.provenance),
        }

    def write(self, path: Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    @classmethod
    def from_dict(cls, data: Any, source: str) -> BackboneMeta:
        if not isinstance(data, dict):
            raise SidecarError(f"{source}: a sidecar is a JSON object, found {type(data).__name__}")
        if data.get("format") != FORMAT:
            data = _upgrade_legacy(data, source)
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise SidecarError(f"{source}: unknown field(s) {unknown}; a format-{FORMAT} sidecar holds {list(_FIELDS)}")
        for name in ("arch", "kind"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise SidecarError(f"{source}: field {name!r} must be a non-empty string, found {data.get(name)!r}")
        for name in ("model_kwargs", "final_metrics", "provenance"):
            if not isinstance(data.get(name, {}), dict):
                raise SidecarError(f"{source}: field {name!r} must be an object, found {data[name]!r}")
        num_classes = data.get("num_classes")
        if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool)):
            raise SidecarError(f"{source}: field 'num_classes' must be an integer or null, found {num_classes!r}")
        if not isinstance(data.get("method", ""), str):
            raise SidecarError(f"{source}: field 'method' must be a string, found {data['method']!r}")
        try:
            block = data.get("data_config")
            inputs = block if block is None or isinstance(block, InputSpec) else parse_input_spec(block, source)
            return cls(arch=data["arch"], kind=data["kind"], data_config=inputs,
                       model_kwargs=dict(data.get("model_kwargs", {})), num_classes=num_classes,
                       method=data.get("method", ""), teachers=_teachers(data.get("teachers", []), source),
                       final_metrics=dict(data.get("final_metrics", {})), provenance=dict(data.get("provenance", {})))
        except (InputSpecError, SidecarError) as exc:
            message = str(exc)
            raise SidecarError(message if message.startswith(source) else f"{source}: {message}") from None

    @classmethod
    def read(cls, path: Path) -> BackboneMeta:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as exc:
            raise SidecarError(f"{path}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, str(path))


_FIELDS = ("format", "kind", "arch", "data_config", "model_kwargs", "num_classes", "method", "teachers",
           "final_metrics", "provenance")


def _teachers(value: Any, source: str) -> tuple[TeacherEntry, ...]:
    if not isinstance(value, list):
        raise SidecarError(f"{source}: field 'teachers' must be a list, found {value!r}")
    teachers = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("arch"), str):
            raise SidecarError(f"{source}: field 'teachers[{i}]' must be an object with an 'arch', found {item!r}")
        unknown = sorted(set(item) - {"arch", "weights_sha256", "num_classes", "source"})
        if unknown:
            raise SidecarError(f"{source}: field 'teachers[{i}]' has unknown field(s) {unknown}")
        teachers.append(TeacherEntry(arch=item["arch"], weights_sha256=str(item.get("weights_sha256", "")),
                                    num_classes=item.get("num_classes"), source=str(item.get("source", ""))))
    return tuple(teachers)


def _upgrade_legacy(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A format-1 ``student.json`` or an unversioned teacher / export sidecar, in this format."""
    version = data.get("format", 1)
    if version != 1:
        raise SidecarError(f"{source}: field 'format' is {version!r}; this version reads {FORMAT} (and 1)")
    kind = _LEGACY_KINDS.get(str(data.get("kind", "")), data.get("kind") or ("student" if "method" in data else
                                                                             "checkpoint"))
    teacher = data.get("teacher") or []
    block = data.get("data_config")
    if block is None and isinstance(data.get("data"), Mapping):
        block = legacy_data_block(data["data"], source)  # an InputSpec: it keeps saying where it came from
    typed = {"format", "kind", "arch", "data_config", "model_kwargs", "num_classes", "method", "teacher",
             "final_metrics"}
    return {
        "format": FORMAT, "kind": kind, "arch": data.get("arch"), "data_config": block,
        "model_kwargs": data.get("model_kwargs") or {}, "num_classes": data.get("num_classes"),
        "method": data.get("method") or "", "teachers": [teacher] if isinstance(teacher, Mapping) else list(teacher),
        "final_metrics": data.get("final_metrics") or {},
        "provenance": {k: v for k, v in data.items() if k not in typed},
    }
