"""The dataset description: which files are a field's channels and which columns say what was imaged.

Everything after ``download`` works on *any* plates once it knows this, so it is one small typed object,
read from a TOML file the user writes beside their image table. BBBC021 is one instance shipped in the
package (``resources/bbbc021.toml``, the default of ``cellclr prep``); the synthetic stand-in writes its own
beside its data. A description names:

* ``channels`` — in store order, each with its ``name``, the CSV column holding its file name and the one
  holding its folder (CellProfiler's LoadData layout: ``FileName_OrigDNA`` / ``PathName_OrigDNA``);
* ``columns`` — plate, well, treatment, and optionally concentration, site, label (MoA), image number,
  table number and replicate; a list gives accepted spellings (public copies of one file differ);
* ``site`` / ``batch`` — a column, or a rule (a regular expression on the nucleus channel's file name; the
  plate name's prefix before a separator, BBBC021's week);
* ``label`` — a second table joined on (treatment, concentration), for MoA annotations kept apart;
* ``exclude`` — wells of a treatment to leave out of the benchmark (BBBC021's taxol control wells);
* ``control`` — the negative-control treatment (DMSO), the reference of every normalisation.

The file is checked when read: an unknown key, a missing required one or a wrong type is an error naming the
file and the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellclr_lib.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BBBC021_NAME = "bbbc021.toml"
#: the name under which a description is written beside its data (the stand-in's, a user's).
DESCRIPTION_NAME = "dataset.toml"
_FIX = "see the dataset description section of the book's setup page (book/setup.md)"


@dataclass(frozen=True)
class Channel:
    """One stain: its name in the store and figures, and the image-table columns of its file and folder."""

    name: str
    file: str
    path: str


@dataclass(frozen=True)
class Exclusion:
    """Wells of one treatment (at one concentration, or all) that are not part of the benchmark."""

    treatment: str
    wells: tuple[str, ...]
    concentration: float | None = None


@dataclass(frozen=True)
class LabelTable:
    """A second CSV giving each (treatment, concentration) its label: its own column names."""

    csv: str
    treatment: str
    concentration: str | None
    label: str


@dataclass(frozen=True)
class Description:
    """What ``prep`` needs to know about a dataset; see the module docstring for each part.

    ``columns`` maps a role (``plate``, ``well``, ``treatment``, ...) to the accepted column spellings.
    ``site_pattern`` is a regular expression whose first group, searched in the nucleus channel's file name,
    is the site (when there is no ``site`` column). ``batch_column``/``batch_split``: the batch is the value
    of that role's column, cut at the first ``batch_split`` when given.
    """

    name: str
    image_csv: str
    channels: tuple[Channel, ...]
    columns: dict[str, tuple[str, ...]]
    control: str
    nucleus_channel: str
    batch_column: str = "plate"
    batch_split: str | None = None
    site_pattern: str | None = None
    label: LabelTable | None = None
    exclude: tuple[Exclusion, ...] = field(default_factory=tuple)
    source: Path | None = None

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @property
    def nucleus_index(self) -> int:
        """Position of the channel nuclei are detected on."""
        return self.channel_names.index(self.nucleus_channel)

    @property
    def has_labels(self) -> bool:
        return self.label is not None or "label" in self.columns

    def excluded(self, fields: pd.DataFrame) -> pd.Series:
        """True for rows in the excluded wells (BBBC021: the taxol control wells).

        ``fields`` needs ``compound``, ``well`` and ``concentration`` (the library's names): a field table, a
        crop store's cells or profile rows, so every step that leaves these wells out asks the same rule.
        """
        out = pd.Series(False, index=fields.index)
        for rule in self.exclude:
            hit = (fields["compound"] == rule.treatment) & fields["well"].isin(rule.wells)
            if rule.concentration is not None:
                hit &= np.isclose(fields["concentration"].astype(float), rule.concentration)
            out |= hit
        return out

    def in_benchmark(self, fields: pd.DataFrame) -> pd.Series:
        """True for the benchmark's fields: labelled (all of them without labels), outside the excluded wells.

        The one selection behind ``prep``'s default fields, ``download``'s plate plans and BBBC021's
        :func:`~cellclr_lib.data.metadata.benchmark_fields`, so the three can never disagree.
        """
        labelled = fields["moa"].notna() if self.has_labels else pd.Series(True, index=fields.index)
        return labelled & ~self.excluded(fields)


#: roles a description must map to columns, and those it may.
REQUIRED_ROLES = ("plate", "well", "treatment")
OPTIONAL_ROLES = ("concentration", "site", "label", "image_number", "table_number", "replicate")
_TOP_KEYS = {
    "name",
    "image_csv",
    "control",
    "nucleus_channel",
    "channels",
    "columns",
    "site",
    "batch",
    "label",
}
_TOP_KEYS |= {"exclude"}


@cache
def bbbc021() -> Description:
    """BBBC021's description, shipped in the package (read once: the benchmark's rules ask it often)."""
    return read_description(Path(str(resources.files("cellclr_lib.data") / "resources" / BBBC021_NAME)))


def description_for(root: str | Path, dataset: str | Path | None = None) -> Description:
    """The description to prepare ``root`` with: ``dataset`` if given, else ``root/dataset.toml``, else BBBC021."""
    if dataset is not None:
        return read_description(dataset)
    own = Path(root) / DESCRIPTION_NAME
    return read_description(own) if own.is_file() else bbbc021()


def read_description(path: str | Path) -> Description:
    """Read and check a description TOML; every problem is a :class:`UsageError` naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise UsageError("dataset description not found", path=path, fix=f"pass the right path; {_FIX}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"not a valid TOML file ({err})", path=path, fix=_FIX) from err
    try:
        return _parse(raw, path)
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"bad dataset description: {err}", path=path, fix=_FIX) from err


def _parse(raw: dict[str, Any], path: Path) -> Description:
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    channels = tuple(
        Channel(**_only(c, ("name", "file", "path"), "channels")) for c in _need(raw, "channels")
    )
    if not channels:
        raise ValueError("'channels' lists no channel")
    names = [c.name for c in channels]
    if len(set(names)) != len(names):
        raise ValueError(f"channel names repeat: {names}")
    columns = _columns(_need(raw, "columns"))
    nucleus = str(raw.get("nucleus_channel", names[0]))
    if nucleus not in names:
        raise ValueError(f"nucleus_channel {nucleus!r} is not one of the channels {names}")
    site = _only(raw.get("site", {}), ("pattern",), "site")
    batch = _only(raw.get("batch", {}), ("column", "split"), "batch")
    label = raw.get("label")
    return Description(
        name=str(raw.get("name", path.stem)),
        image_csv=str(_need(raw, "image_csv")),
        channels=channels,
        columns=columns,
        control=str(_need(raw, "control")),
        nucleus_channel=nucleus,
        batch_column=str(batch.get("column", "plate")),
        batch_split=batch.get("split"),
        site_pattern=site.get("pattern"),
        label=LabelTable(**_only(label, ("csv", "treatment", "concentration", "label"), "label"))
        if label is not None
        else None,
        exclude=tuple(_exclusion(e) for e in raw.get("exclude", [])),
        source=path,
    )


def _need(raw: dict[str, Any], key: str) -> Any:
    if key not in raw:
        raise KeyError(f"the key {key!r} is required")
    return raw[key]


def _only(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    """``table`` if it has no key outside ``allowed`` (a typo must not fall back to a default)."""
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in [{where}]; allowed: {', '.join(allowed)}")
    return table


def _columns(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Role → accepted spellings; the required roles must be there, unknown roles are refused."""
    _only(raw, REQUIRED_ROLES + OPTIONAL_ROLES, "columns")
    for role in REQUIRED_ROLES:
        _need(raw, role)
    return {
        role: (value,) if isinstance(value, str) else tuple(map(str, value)) for role, value in raw.items()
    }


def _exclusion(raw: dict[str, Any]) -> Exclusion:
    _only(raw, ("treatment", "concentration", "wells"), "exclude")
    concentration = raw.get("concentration")
    return Exclusion(
        treatment=str(_need(raw, "treatment")),
        wells=tuple(map(str, _need(raw, "wells"))),
        concentration=None if concentration is None else float(concentration),
    )
