"""NSC / NSCB / drop: 1-nearest-neighbour MoA matching of treatment profiles (Ljosa et al. 2013; Ando 2017).

The protocol, exactly:

* a **treatment** is a (compound, concentration) with one profile (see :mod:`cellclr_lib.profiles`);
* **NSC** (not-same-compound): each treatment's nearest neighbour is searched among the treatments of *other
  compounds* (every concentration of the query's own compound is excluded — the classic mistake);
* **NSCB** (not-same-compound-or-batch): the MoAs *Cholesterol-lowering* and *Kinase inhibitors*, whose
  compounds sit in one batch, are removed from the table (neither query nor candidate; 92 queries remain on
  BBBC021), and candidates must also come from another **batch** (week). A treatment whose wells span several
  weeks has the union of those weeks as its batch set; a candidate is excluded when it shares *any* week with
  the query;
* a query is correct when its neighbour has the same MoA; **drop** = NSC − NSCB;
* similarity is cosine (or Pearson: cosine of the profiles centred on their own mean over features);
* **ties** (several eligible candidates at the same highest similarity) go to the lowest index in the sorted
  (compound, concentration) order, so results never depend on input order; their number is reported;
* a query with no eligible candidate is **skipped**: reported in ``*_skipped`` and left out of ``*_total``.

This module only computes: it takes profiles in memory and never reads files (that is
:mod:`cellclr_lib.tables`), so any source of profiles is judged by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cellclr_lib.profiles import Profiles

Similarity = Literal["cosine", "pearson"]
NSCB_EXCLUDED_MOAS: tuple[str, ...] = ("Cholesterol-lowering", "Kinase inhibitors")
#: two candidates tie when their similarities differ by less than this.
TIE_TOLERANCE = 1e-12


@dataclass
class Evaluation:
    """Result of one evaluation: summary ``metrics``, one row per query treatment in ``queries``.

    ``tables`` holds other per-treatment results by name (e.g. copairs' mAP rows), kept out of the JSON.
    """

    metrics: dict[str, Any]
    queries: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: metrics, settings and each query's nearest neighbour under both protocols."""
        records = []
        for row in self.queries.itertuples(index=False):
            record: dict[str, Any] = {
                "compound": row.compound,
                "concentration": float(row.concentration),
                "moa": row.moa,
                "batches": row.batches,
            }
            for protocol in ("nsc", "nscb"):
                if getattr(row, f"{protocol}_evaluated"):
                    record[protocol] = {
                        "compound": getattr(row, f"{protocol}_compound"),
                        "concentration": float(getattr(row, f"{protocol}_concentration")),
                        "moa": getattr(row, f"{protocol}_moa"),
                        "similarity": float(getattr(row, f"{protocol}_similarity")),
                        "correct": bool(getattr(row, f"{protocol}_correct")),
                        "ties": int(getattr(row, f"{protocol}_ties")),
                    }
                else:
                    record[protocol] = None
            records.append(record)
        metrics = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in self.metrics.items()}
        return {**metrics, "settings": self.settings, "queries": records}


def similarity_matrix(values: np.ndarray, kind: Similarity = "cosine") -> np.ndarray:
    """Pairwise cosine (or Pearson) similarity of the rows; an all-zero row has similarity 0 to everything."""
    x = np.asarray(values, dtype=np.float64)
    if kind == "pearson":
        x = x - x.mean(axis=1, keepdims=True)
    elif kind != "cosine":
        raise ValueError(f"unknown similarity {kind!r}; use 'cosine' or 'pearson'")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return x @ x.T


def nearest_neighbours(
    similarity: np.ndarray, eligible: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row: index of the most similar eligible column (-1 if none), its similarity, the tie count.

    Candidates within :data:`TIE_TOLERANCE` of the best similarity tie; ``argmax`` over the tie mask returns
    the first, i.e. the lowest column index, so float rounding never decides between tied candidates.
    """
    masked = np.where(eligible, similarity, -np.inf)
    best = masked.max(axis=1)
    tied = eligible & (masked >= best[:, None] - TIE_TOLERANCE)
    has_candidate = eligible.any(axis=1)
    index = np.where(has_candidate, tied.argmax(axis=1), -1)
    return index, np.where(has_candidate, best, np.nan), np.where(has_candidate, tied.sum(axis=1) - 1, 0)


def _batch_sets_share(batches: pd.Series) -> np.ndarray:
    """``share[i, j]`` is True when treatments i and j have a week in common (batch sets are comma-joined)."""
    membership = batches.str.get_dummies(sep=",").to_numpy(dtype=np.int64)
    return (membership @ membership.T) > 0


def evaluate_treatments(
    treatments: Profiles,
    similarity: Similarity = "cosine",
    nscb_excluded_moas: Sequence[str] = NSCB_EXCLUDED_MOAS,
) -> Evaluation:
    """NSC, NSCB and drop of treatment profiles (``meta``: compound, concentration, moa, batches)."""
    positional = treatments.meta.reset_index(drop=True)
    order = positional.sort_values(["compound", "concentration"], kind="stable").index.to_numpy()
    meta = positional.loc[order].reset_index(drop=True)
    sim = similarity_matrix(treatments.values[order], similarity)
    compounds, moas = meta["compound"].to_numpy(), meta["moa"].to_numpy()
    other_compound = compounds[:, None] != compounds[None, :]
    in_nscb = ~meta["moa"].isin(list(nscb_excluded_moas)).to_numpy()
    eligible = {
        "nsc": other_compound,
        "nscb": other_compound & ~_batch_sets_share(meta["batches"]) & in_nscb[None, :] & in_nscb[:, None],
    }
    queries = meta[["compound", "concentration", "moa", "batches"]].copy()
    metrics: dict[str, Any] = {}
    for protocol, mask in eligible.items():
        is_query = np.ones(len(meta), dtype=bool) if protocol == "nsc" else in_nscb
        index, best, ties = nearest_neighbours(sim, mask)
        evaluated = is_query & (index >= 0)
        safe = np.where(index >= 0, index, 0)
        correct = evaluated & (moas[safe] == moas)
        queries[f"{protocol}_evaluated"] = evaluated
        for column in ("compound", "concentration", "moa"):
            queries[f"{protocol}_{column}"] = np.where(evaluated, meta[column].to_numpy()[safe], None)
        queries[f"{protocol}_similarity"] = np.where(evaluated, best, np.nan)
        queries[f"{protocol}_correct"] = correct
        queries[f"{protocol}_ties"] = np.where(evaluated, ties, 0)
        total = int(evaluated.sum())
        metrics[protocol] = float(correct.sum() / total) if total else float("nan")
        metrics[f"{protocol}_correct"] = int(correct.sum())
        metrics[f"{protocol}_total"] = total
        metrics[f"{protocol}_skipped"] = int((is_query & (index < 0)).sum())
        metrics[f"{protocol}_ties"] = int((evaluated & (ties > 0)).sum())
    metrics["drop"] = metrics["nsc"] - metrics["nscb"]
    metrics["per_moa"] = _per_moa(queries)
    metrics["n_treatments"] = len(meta)
    return Evaluation(metrics=metrics, queries=queries)


def _per_moa(queries: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Accuracy and number of evaluated queries per MoA under both protocols (None where none evaluated)."""
    out: dict[str, dict[str, Any]] = {}
    for moa, group in queries.groupby("moa", sort=True):
        entry: dict[str, Any] = {}
        for protocol in ("nsc", "nscb"):
            evaluated = group[f"{protocol}_evaluated"]
            n = int(evaluated.sum())
            entry[protocol] = float(group.loc[evaluated, f"{protocol}_correct"].mean()) if n else None
            entry[f"{protocol}_total"] = n
        out[str(moa)] = entry
    return out
