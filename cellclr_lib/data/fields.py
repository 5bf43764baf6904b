"""The field table of any dataset, read through its :class:`~cellclr_lib.data.dataset.Description`.

One row per field of view with the library's own column names, whatever the image table calls them:
``field_id, table_number, image_number, plate, batch, well, site, replicate, compound, concentration, moa``
then ``path_<channel>, file_<channel>`` for each channel (lower-case names). ``compound`` is the treatment and
``moa`` the label, named as in BBBC021 because every later step (profiles, NSC, mAP) groups by them. For
BBBC021's description the table is exactly :func:`cellclr_lib.data.metadata.field_table`'s (a test checks
it), so the crop store it gives is byte-identical.

Optional roles get neutral values when a description leaves them out: ``image_number`` is the row number
(from 1), ``table_number`` 1, ``concentration`` 0.0 (one dose per treatment), ``site``, ``replicate`` and
``moa`` are missing values (``evaluate`` then offers mAP only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cellclr_lib.data.dataset import Description
from cellclr_lib.data.metadata import (
    METADATA_COLUMNS,
    field_ids,
    integer_columns,
    read_csv_robust,
    refuse_duplicates,
)
from cellclr_lib.errors import CellclrError

#: role in a description → the library's column name.
CANONICAL = {
    "plate": "plate",
    "well": "well",
    "treatment": "compound",
    "concentration": "concentration",
    "site": "site",
    "label": "moa",
    "image_number": "image_number",
    "table_number": "table_number",
    "replicate": "replicate",
}


def channel_key(name: str) -> str:
    """The suffix of a channel's ``path_``/``file_`` columns: its name in lower case."""
    return name.lower()


def field_columns(description: Description) -> list[str]:
    """The columns of :func:`read_fields`, in order."""
    keys = [channel_key(c.name) for c in description.channels]
    return METADATA_COLUMNS + [f"{kind}_{key}" for key in keys for kind in ("path", "file")]


def read_fields(description: Description, root: str | Path) -> pd.DataFrame:
    """Every field of the dataset at ``root``, joined to its label; see the module docstring.

    A column the description names but the table lacks is a :class:`DataError` naming the table, the
    column and the description.
    """
    root = Path(root)
    image_csv = root / description.image_csv
    wanted = {CANONICAL[role]: spellings for role, spellings in description.columns.items()}
    for channel in description.channels:
        wanted[f"path_{channel_key(channel.name)}"] = (channel.path,)
        wanted[f"file_{channel_key(channel.name)}"] = (channel.file,)
    fix = f"correct the column names in the dataset description {description.source or description.name}"
    fields = read_csv_robust(image_csv, wanted, fix=fix)
    integer_columns(
        fields,
        wanted,
        image_csv,
        ("replicate", "site"),
        ("table_number", "image_number", "replicate", "site"),
    )
    _fill_optional(fields, description)
    refuse_duplicates(fields, ["table_number", "image_number"], image_csv)
    fields["batch"] = _batches(fields, description)
    fields["field_id"] = field_ids(fields)
    fields = _join_labels(fields, description, root, fix)
    return fields[field_columns(description)]


def _fill_optional(fields: pd.DataFrame, description: Description) -> None:
    """Neutral values for the roles the description leaves out (see the module docstring)."""
    if "image_number" not in fields:
        fields["image_number"] = pd.array(np.arange(1, len(fields) + 1), dtype="Int64")
    if "table_number" not in fields:
        fields["table_number"] = pd.array(np.ones(len(fields), dtype=np.int64), dtype="Int64")
    if "concentration" not in fields:
        fields["concentration"] = 0.0
    if "replicate" not in fields:
        fields["replicate"] = pd.array([pd.NA] * len(fields), dtype="Int64")
    if "site" not in fields:
        fields["site"] = _sites(fields, description)
    if "moa" not in fields:
        fields["moa"] = np.nan


def _sites(fields: pd.DataFrame, description: Description) -> pd.Series:
    """The site from the nucleus channel's file name by the description's pattern (missing without one)."""
    if description.site_pattern is None:
        return pd.Series(pd.array([pd.NA] * len(fields), dtype="Int64"), index=fields.index)
    names = fields[f"file_{channel_key(description.nucleus_channel)}"]
    site = names.str.extract(description.site_pattern, expand=False)
    return pd.to_numeric(site, errors="coerce").astype("Int64")


def _batches(fields: pd.DataFrame, description: Description) -> pd.Series:
    """The batch of each field: its batch column, cut at the first separator when the description says so."""
    column = CANONICAL.get(description.batch_column, description.batch_column)
    if column not in fields:
        raise CellclrError(
            f"the batch column {description.batch_column!r} is not one of the described columns",
            path=description.source,
            fix="set [batch] column to a role under [columns] (e.g. plate)",
        )
    split = description.batch_split
    return fields[column].map(lambda value: str(value).split(split, 1)[0] if split else str(value))


def _join_labels(fields: pd.DataFrame, description: Description, root: Path, fix: str) -> pd.DataFrame:
    """Labels from the description's second table, joined on (treatment, concentration)."""
    label = description.label
    if label is None:
        return fields
    columns = {"compound": (label.treatment,), "moa": (label.label,)}
    if label.concentration is not None:
        columns["concentration"] = (label.concentration,)
    labels = read_csv_robust(root / label.csv, columns, fix=fix)
    on = ["compound", "concentration"] if label.concentration is not None else ["compound"]
    refuse_duplicates(labels, on, root / label.csv)
    return fields.drop(columns="moa").merge(labels[[*on, "moa"]], on=on, how="left", validate="many_to_one")


def select(
    description: Description,
    root: str | Path,
    which: str = "benchmark",
    plates: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The fields to prepare, sorted by plate then image number, with ``is_control``.

    ``"benchmark"``: the labelled fields (all of them when the dataset has no labels) outside the excluded
    wells; ``"all"``: every field. ``plates`` restricts to those plates.
    """
    table = read_fields(description, root)
    if which == "benchmark":
        table = table[description.in_benchmark(table)].copy()
    elif which != "all":
        raise CellclrError(f"fields must be 'benchmark' or 'all', not {which!r}")
    table["is_control"] = table["compound"] == description.control
    if plates is not None:
        unknown = sorted(set(plates) - set(table["plate"]))
        if unknown:
            raise CellclrError(
                f"plate(s) {', '.join(unknown)} have no {which} fields in the metadata",
                path=Path(root) / description.image_csv,
                fix=f"choose among: {', '.join(sorted(table['plate'].unique()))}",
            )
        table = table[table["plate"].isin(plates)]
    return table.sort_values(["plate", "image_number"]).reset_index(drop=True)
