"""The synthetic BBBC021 stand-in: BBBC021's exact on-disk format with simulated cells.

The real BBBC021 is ~40 GB; tests, CI and the book's default run need something small that still exercises the
*real* loading path. So the stand-in is a subset of the real metadata — real plates, wells, compounds,
concentrations, MoAs and file names with their UUIDs, the CSV lines copied verbatim — with simulated images:

- ``WeekN/WeekN_#####/<file>.tif``: one 2-D uint16 TIFF per channel (w1 DAPI, w2 Tubulin, w4 Actin), named
  exactly as the real ``BBBC021_v1_image.csv`` names them (so both real name forms occur: Week4's files have no
  ``WeekN_..._`` prefix);
- ``BBBC021_v1_image.csv`` and ``BBBC021_v1_moa.csv``: the real lines for the chosen fields and treatments;
- ``dataset.toml``: the description ``cellclr prep --data`` reads (:mod:`cellclr_lib.data.dataset`);
- ``synthetic_truth.parquet``: every true nucleus (``field_id, image_number, plate, well, site, cell_id, x, y,
  radius, affected``), to check nucleus detection; ``synthetic.json`` (written last: it marks the set complete).

Biology is calibrated on the real BBBC021 CellProfiler profiles (:mod:`cellclr_lib.data.calibration`): each
well's cells get the real signature of its treatment (the median shift of its real wells from their plate's
DMSO wells), a well-to-well deviation, and the plate's batch effect — week and plate parts
with the spread the real DMSO plate means show — scaled by ``batch_effect``. Cells are drawn at BBBC021's
native scale in every preset (:mod:`cellclr_lib.data.synthetic_render`); smaller presets have smaller fields.
Every chosen plate carries its six real DMSO wells.

``panel="cellpainting"`` renders the same fields and cells with the five Cell Painting stains instead (DNA, ER,
RNA, AGP, Mito; :func:`cellclr_lib.data.synthetic_render._cell_painting_stains`, not calibrated), written as a
CellProfiler LoadData table (``load_data.csv``: ``Metadata_Plate`` …, ``FileName_OrigDNA`` /
``PathName_OrigDNA`` …) with images ``<plate>_<well>_s<site>_<stain>.tif`` in the same plate folders, and its
own description: a five-channel dataset to try every step on without data.
"""

from __future__ import annotations

import argparse
import json
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile

from cellclr_lib import __version__
from cellclr_lib.data import metadata
from cellclr_lib.data.dataset import DESCRIPTION_NAME, bbbc021
from cellclr_lib.data.source import SYNTHETIC_MARKER
from cellclr_lib.data.standin_phenotype import Calibration
from cellclr_lib.data.synthetic_render import (
    BACKGROUND,
    PANELS,
    Acquisition,
    draw_cells,
    place_cells,
    render_field,
)
from cellclr_lib.errors import CellclrError, require
from cellclr_lib.io import atomic_path, read_json, write_json_atomic, write_table_atomic, write_text_atomic
from cellclr_lib.options import positive_int
from cellclr_lib.pool import WorkerPool
from cellclr_lib.progress import progress_bar

TRUTH_FILE = "synthetic_truth.parquet"
LOADDATA_CSV = "load_data.csv"  #: the Cell Painting panel's image table (CellProfiler's LoadData layout)
CELL_PAINTING_DESCRIPTION = "standin_cellpainting.toml"  #: its shipped description, beside BBBC021's
PARTIAL_MARKER = ".synthetic-partial.json"
_REGENERATE = "delete the folder and run `cellclr synth` again"


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; saved in ``synthetic.json`` so a rerun can tell whether the set is the same.

    Attributes:
        preset: name of the preset the config came from (informational).
        seed: everything random derives from it (per field from ``(seed, field_id)``).
        field_shape: (rows, columns) of every image (real BBBC021: 1024 × 1280; cells are always at its
            native scale, so a smaller field holds fewer cells).
        compounds_per_moa: compounds chosen per MoA (all 12 MoAs are always present).
        concentrations_per_compound: highest concentrations kept per compound (the strongest phenotypes).
        replicates: wells per treatment (each on another real plate of the compound's week).
        sites: fields per well (sites 1..n).
        dmso_wells_per_plate: DMSO control wells on every chosen plate (BBBC021: six).
        batch_effect: strength of the week and plate effects (1 = as large as in the real data, 0 = none).
        well_noise: well-to-well deviation drawn per well, in the real within-plate DMSO standard deviations.
            Below 1 because a stand-in well averages a few dozen measured cells where a real well averages
            hundreds: the sampling of cells already adds most of the real wells' spread.
        panel: the stains rendered (:data:`~cellclr_lib.data.synthetic_render.PANELS`): ``bbbc021`` (BBBC021's
            three, in its exact format) or ``cellpainting`` (five, in CellProfiler's LoadData layout).
    """

    preset: str = "tiny"
    seed: int = 0
    field_shape: tuple[int, int] = (256, 320)
    compounds_per_moa: int = 2
    concentrations_per_compound: int = 2
    replicates: int = 2
    sites: int = 1
    dmso_wells_per_plate: int = 6
    batch_effect: float = 1.0
    well_noise: float = 0.3
    panel: str = "bbbc021"

    def __post_init__(self) -> None:
        problems = [
            (min(self.field_shape) >= 128, f"field_shape {self.field_shape} is smaller than 128 px"),
            (self.compounds_per_moa >= 1, "compounds_per_moa must be ≥ 1"),
            (self.concentrations_per_compound >= 1, "concentrations_per_compound must be ≥ 1"),
            (1 <= self.replicates <= 3, "replicates must be 1, 2 or 3 (BBBC021 has three)"),
            (1 <= self.sites <= 4, "sites must be between 1 and 4 (BBBC021 has four per well)"),
            (self.dmso_wells_per_plate >= 1, "dmso_wells_per_plate must be ≥ 1: DMSO is on every plate"),
            (self.batch_effect >= 0, "batch_effect must be ≥ 0"),
            (self.well_noise >= 0, "well_noise must be ≥ 0"),
            (self.panel in PANELS, f"panel must be one of {', '.join(PANELS)}, not {self.panel!r}"),
        ]
        require(problems, prefix="bad synthetic-data parameter: ", fix="see `cellclr synth --help`")


#: ``tiny``: ~160 fields of 256 × 320 (tests, seconds); ``small``: ~310 fields of 384 × 512 (the book's run).
#: Both draw three compounds per MoA (two weeks plus a same-week partner, see :func:`pick_compounds`).
PRESETS: dict[str, SynthConfig] = {
    "tiny": SynthConfig(preset="tiny", compounds_per_moa=3, replicates=1),
    "small": SynthConfig(
        preset="small",
        field_shape=(384, 512),
        compounds_per_moa=3,
        concentrations_per_compound=2,
        replicates=2,
    ),
}


def config_for(preset: str = "tiny", seed: int = 0, **overrides: Any) -> SynthConfig:
    """The preset's configuration with ``seed`` and any field overridden."""
    if preset not in PRESETS:
        raise CellclrError(f"unknown synthetic preset {preset!r}", fix=f"use one of {', '.join(PRESETS)}")
    unknown = set(overrides) - {f.name for f in fields(SynthConfig)}
    if unknown:
        raise CellclrError(f"unknown synthetic-data parameter(s) {', '.join(sorted(unknown))}")
    if "field_shape" in overrides:
        overrides["field_shape"] = tuple(int(v) for v in overrides["field_shape"])
    return replace(PRESETS[preset], seed=seed, **overrides)


# ------------------------------------------------------------------------------------------ choosing


def read_config(data_dir: str | Path) -> SynthConfig:
    """The configuration a complete stand-in in ``data_dir`` was generated with (from its ``synthetic.json``)."""
    marker = Path(data_dir) / SYNTHETIC_MARKER
    if not marker.is_file():
        raise CellclrError(
            f"holds no complete synthetic stand-in (no {SYNTHETIC_MARKER})",
            path=data_dir,
            fix="pass the folder `cellclr synth --out` wrote, after it finished",
        )
    record = dict(read_json(marker, fix=_REGENERATE)["config"])
    return config_for(record.pop("preset"), record.pop("seed"), **record)


def _stable_rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A generator seeded from ``seed`` and text keys via CRC32: the same on every machine and process."""
    return np.random.default_rng([seed, *(zlib.crc32(str(k).encode()) for k in keys)])


def pick_compounds(week_of: pd.Series, k: int, rng: np.random.Generator) -> list[str]:
    """``k`` compounds of one MoA (``week_of``: compound -> week), spread over weeks, with one same-week pair.

    NSCB only counts a neighbour from *another* week, so the first two compounds come from two different weeks
    wherever the real data has them (otherwise an MoA could never be matched across batches). The third, when
    asked for, shares a week with the first: two compounds of one MoA in one week are the batch confound
    BBBC021 is known for (NSC can match them through the week's staining alone), and the NSC − NSCB drop
    measures exactly that. Further compounds come from new weeks first.
    """
    by_week = {week: list(rng.permutation(sorted(c))) for week, c in week_of.groupby(week_of).groups.items()}
    weeks = sorted(by_week, key=lambda w: (-len(by_week[w]), rng.random()))
    one_per_week = [by_week[w][0] for w in weeks]
    partners = [c for w in weeks for c in by_week[w][1:]]
    order = one_per_week[:2] + partners[:1] + one_per_week[2:] + partners[1:]
    return order[:k]


def choose_fields(config: SynthConfig) -> pd.DataFrame:
    """The real benchmark fields the stand-in renders: treatments of every MoA plus DMSO on every plate.

    Compounds are drawn per MoA (seeded, :func:`pick_compounds`); a Week4 compound is always included so that
    both real file-name forms occur. Each treatment keeps its first ``replicates`` wells (on distinct real
    plates), each plate its first ``dmso_wells_per_plate`` DMSO wells.
    """
    bench = metadata.benchmark_fields()
    bench = bench[bench["site"] <= config.sites]
    treated = bench[~bench["is_control"]]
    rng = _stable_rng(config.seed, "choose")
    chosen: list[str] = []
    for _, group in treated.groupby("moa", sort=True):
        chosen += pick_compounds(group.groupby("compound")["batch"].first(), config.compounds_per_moa, rng)
    if "Week4" not in set(treated.loc[treated["compound"].isin(chosen), "batch"]):
        week4 = sorted(treated.loc[treated["batch"] == "Week4", "compound"].unique())
        chosen.append(week4[0])
    rows = treated[treated["compound"].isin(chosen)]
    top = (
        rows.drop_duplicates(["compound", "concentration"])
        .sort_values(["compound", "concentration"], ascending=[True, False])
        .groupby("compound")
        .head(config.concentrations_per_compound)
    )
    rows = rows.merge(top[["compound", "concentration"]], on=["compound", "concentration"])
    wells = rows.drop_duplicates(["compound", "concentration", "plate", "well"])
    wells = (
        wells.sort_values(["compound", "concentration", "plate"])
        .groupby(["compound", "concentration"])
        .head(config.replicates)
    )
    keep = rows.merge(wells[["plate", "well"]], on=["plate", "well"])
    controls = bench[bench["is_control"] & bench["plate"].isin(keep["plate"])]
    dmso_wells = (
        controls.drop_duplicates(["plate", "well"])
        .sort_values(["plate", "well"])
        .groupby("plate")
        .head(config.dmso_wells_per_plate)
    )
    dmso = controls.merge(dmso_wells[["plate", "well"]], on=["plate", "well"])
    chosen_fields = pd.concat([keep, dmso]).sort_values("field_id").reset_index(drop=True)
    return chosen_fields


# ---------------------------------------------------------------------------------------- phenotypes


def batch_shift(plate: str, config: SynthConfig, calibration: Calibration) -> pd.Series:
    """The plate's batch effect on every calibrated feature, in real within-plate DMSO SDs.

    A week part shared by the week's plates plus a plate-own part, each normal with the spread the real DMSO
    plate means show between weeks and between plates of a week (:mod:`cellclr_lib.data.calibration`), times
    ``batch_effect``. Both parts are centred over the stand-in's weeks and plates (:func:`_centred_effects`).
    """
    weeks, plates = _centred_effects(config, len(calibration.week))
    week = weeks[metadata.batch_of(plate)]
    return config.batch_effect * (week * calibration.week + plates[plate] * calibration.plate)


@cache
def _centred_effects(
    config: SynthConfig, n_features: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Standard-normal week and plate-own draws for every week and plate of the stand-in, each centred on 0.

    Why centred: the calibration's DMSO median is the median over the real weeks, so the real batch
    effects are deviations around it. The stand-in's ten fresh week draws have a mean of their own (about a
    third of the week spread: 1.7 real SDs for tubulin, whose weeks differ by 5.3), which would move every
    DMSO well of one seed's stand-in away from the real median. Each draw stays seeded by its week or plate;
    a lone week or plate keeps its draw.
    """
    plates = sorted(choose_fields(config)["plate"].unique())
    weeks = sorted({metadata.batch_of(plate) for plate in plates})
    week = np.array([_stable_rng(config.seed, "week", w).standard_normal(n_features) for w in weeks])
    own = np.array([_stable_rng(config.seed, "plate", p).standard_normal(n_features) for p in plates])
    week -= week.mean(axis=0) if len(weeks) > 1 else 0.0
    own -= own.mean(axis=0) if len(plates) > 1 else 0.0
    return dict(zip(weeks, week, strict=True)), dict(zip(plates, own, strict=True))


def well_shift(row: dict, config: SynthConfig, calibration: Calibration) -> pd.Series:
    """What one well is drawn with, before any image: every calibrated feature's shift from the real DMSO
    median, in real within-plate DMSO SDs = real signature + batch effect + well-to-well deviation.

    Every field of a well shares it (the deviation is seeded by plate and well). Evaluated as profiles,
    these shifts are the stand-in's ceiling: what a perfect renderer measured back perfectly would give
    (:func:`cellclr_lib.data.standin_check.gap_stages`).
    """
    signature = calibration.signature(row["moa"], row["compound"], float(row["concentration"]))
    well = _stable_rng(config.seed, "well", row["plate"], row["well"]).standard_normal(len(signature))
    return signature + batch_shift(row["plate"], config, calibration) + config.well_noise * well


def well_multipliers(row: dict, config: SynthConfig, calibration: Calibration) -> dict[str, float]:
    """The renderer multipliers of one well: its drawn shift (:func:`well_shift`) as renderer parameters."""
    return calibration.renderer_multipliers(calibration.targets(well_shift(row, config, calibration)))


def acquisition_for(plate: str, config: SynthConfig) -> Acquisition:
    """Camera side of a plate's batch effects: background, vignetting, focus blur and read noise per week/plate.

    Stain intensities vary through the calibrated targets (:func:`batch_shift`); these are the parts the
    per-well profiles cannot show, kept mild and scaled by ``batch_effect``.
    """
    week = _stable_rng(config.seed, "camera-week", metadata.batch_of(plate))
    own = _stable_rng(config.seed, "camera-plate", plate)
    s = config.batch_effect
    shift, own_shift = week.normal(0, 0.06 * s), own.normal(0, 0.02 * s, 3)
    extra = len(PANELS[config.panel]) - 3  # further stains draw from their own stream: BBBC021's bytes stay
    own_extra = _stable_rng(config.seed, "camera-plate-extra", plate).normal(0, 0.02 * s, max(extra, 0))
    background = BACKGROUND * (1 + shift + np.concatenate([own_shift, own_extra]))
    return Acquisition(
        background=tuple(float(b) for b in background),
        vignetting=float(np.clip(0.1 + 0.15 * s * week.random() + 0.05 * s * own.random(), 0, 0.8)),
        blur=float(1.0 + 0.5 * s * week.random() + 0.2 * s * own.random()),
        read_noise=float(6 + 6 * s * week.random()),
    )


# --------------------------------------------------------------------------------------- generation


@cache
def _calibration() -> Calibration:
    """The shipped calibration, parsed once per process."""
    return Calibration.load()


def _render_task(task: tuple[dict, SynthConfig, str]) -> list[dict]:
    """Render one field, write its TIFFs (one per stain) atomically, return its true nuclei (a worker function).

    The truth lists the nuclei whose centre lies in the field (cells beyond the border are drawn where they
    reach into it). A field whose files all exist is not rendered again: its cells are drawn before any pixel
    noise, so its nuclei are recomputed exactly without rendering (resuming costs almost nothing).
    """
    row, config, root = task
    rng = np.random.default_rng([config.seed, int(row["field_id"])])
    well = well_multipliers(row, config, _calibration())
    cells = draw_cells(place_cells(config.field_shape, well, rng), well, rng)
    targets = [
        Path(root) / row[f"path_{channel.lower()}"] / row[f"file_{channel.lower()}"]
        for channel in PANELS[config.panel]
    ]
    if not all(target.is_file() for target in targets):
        acquisition = acquisition_for(row["plate"], config)
        pixels = render_field(config.field_shape, cells, acquisition, rng, config.panel)
        for target, image in zip(targets, pixels, strict=True):
            with atomic_path(target) as tmp:
                tifffile.imwrite(tmp, image, photometric="minisblack", metadata=None)
    keys = {k: row[k] for k in ("field_id", "image_number", "plate", "well", "site")}
    return [
        {
            **keys,
            "cell_id": int(c),
            "x": float(x),
            "y": float(y),
            "radius": float(r),
            "affected": row["compound"] != metadata.DMSO,
        }
        for x, y, r, c in cells.nuclei()
        if 0 <= x < config.field_shape[1] and 0 <= y < config.field_shape[0]  # cells cut by the border: drawn
    ]


def _csv_lines(path: Path, keep: pd.Series) -> str:
    """The header and the lines of ``path`` where ``keep`` (aligned with its rows) is True, verbatim."""
    lines = path.read_text().splitlines()
    rows = [line for line, wanted in zip(lines[1:], keep, strict=True) if wanted]
    return "\n".join([lines[0], *rows]) + "\n"


def standin_description(panel: str = "bbbc021") -> str:
    """The stand-in's dataset description, written beside it so that ``cellclr prep --data`` needs no option.

    BBBC021's panel: BBBC021's description (same layout and columns) under its own name. The Cell Painting
    panel: the shipped LoadData-style description of its five stains (``resources/standin_cellpainting.toml``).
    """
    if panel == "cellpainting":
        return bbbc021().source.with_name(CELL_PAINTING_DESCRIPTION).read_text(encoding="utf-8")
    text = bbbc021().source.read_text(encoding="utf-8")
    return text.replace('name = "BBBC021"', 'name = "BBBC021 stand-in"', 1)


def panel_files(chosen: pd.DataFrame, panel: str) -> pd.DataFrame:
    """``chosen`` with the ``path_<stain>`` and ``file_<stain>`` columns of every stain of ``panel``.

    BBBC021's panel keeps the real folders and names. The Cell Painting panel's images go into the same plate
    folders, named ``<plate>_<well>_s<site>_<stain>.tif`` (unique per field and stain; no real names to copy).
    """
    if panel == "bbbc021":
        return chosen
    out = chosen.copy()
    stem = chosen["plate"] + "_" + chosen["well"] + "_s" + chosen["site"].astype(str)
    for name in PANELS[panel]:
        out[f"path_{name.lower()}"] = chosen["path_dapi"]
        out[f"file_{name.lower()}"] = stem + f"_{name}.tif"
    return out


def load_data_table(chosen: pd.DataFrame, panel: str) -> pd.DataFrame:
    """The image table of a non-BBBC021 panel in CellProfiler's LoadData layout, one row per field.

    Table and image numbers are BBBC021's, so field ids (and the truth table's keys) are the same as in the
    BBBC021 panel; concentrations are written as the real table writes them, so the MoA table joins.
    """
    table = pd.DataFrame(
        {
            "TableNumber": chosen["table_number"],
            "ImageNumber": chosen["image_number"],
            "Metadata_Plate": chosen["plate"],
            "Metadata_Well": chosen["well"],
            "Metadata_Site": chosen["site"],
            "Metadata_Compound": chosen["compound"],
            "Metadata_Concentration": chosen["concentration"].map(lambda c: f"{c:.6f}"),
            "Metadata_Replicate": chosen["replicate"],
        }
    )
    for name in PANELS[panel]:
        table[f"FileName_Orig{name}"] = chosen[f"file_{name.lower()}"]
        table[f"PathName_Orig{name}"] = chosen[f"path_{name.lower()}"]
    return table


def _write_tables(out: Path, chosen: pd.DataFrame, panel: str) -> pd.DataFrame:
    """Write the image table, the MoA table and the description of the chosen fields; return the treatments.

    BBBC021's panel copies the real lines of both tables; another panel writes its own LoadData table and
    keeps the real MoA lines (its description joins them as BBBC021's does).
    """
    if panel == "bbbc021":
        image_csv = metadata.shipped_path(metadata.IMAGE_CSV_NAME)
        all_ids = metadata.field_ids(metadata.read_image_csv())
        lines = _csv_lines(image_csv, all_ids.isin(chosen["field_id"]))
        write_text_atomic(out / metadata.IMAGE_CSV_NAME, lines)
    else:
        write_text_atomic(out / LOADDATA_CSV, load_data_table(chosen, panel).to_csv(index=False))
    moa = metadata.read_moa_csv()
    treatments = chosen[["compound", "concentration"]].drop_duplicates()
    in_moa = pd.MultiIndex.from_frame(moa[["compound", "concentration"]]).isin(
        pd.MultiIndex.from_frame(treatments)
    )
    write_text_atomic(
        out / metadata.MOA_CSV_NAME,
        _csv_lines(metadata.shipped_path(metadata.MOA_CSV_NAME), pd.Series(in_moa)),
    )
    write_text_atomic(out / DESCRIPTION_NAME, standin_description(panel))
    return treatments


def generate(
    out_dir: str | Path,
    preset: str = "tiny",
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Write the stand-in to ``out_dir`` (resumable: fields already written are kept); return ``out_dir``.

    A complete set with the same configuration is left as it is; one with another configuration is refused.
    """
    out = Path(out_dir)
    config = config_for(preset, seed, **overrides)
    wanted = {"config": _config_record(config), "library_version": __version__}
    marker = out / SYNTHETIC_MARKER
    if marker.is_file():
        existing = read_json(marker, fix=_REGENERATE)
        if existing.get("config") == wanted["config"]:
            return out
        raise CellclrError(
            "holds a synthetic dataset made with other parameters",
            path=out,
            fix="choose another --out, or delete the folder to regenerate it",
        )
    if out.is_dir() and any(out.iterdir()):
        partial = out / PARTIAL_MARKER
        if not partial.is_file() or read_json(partial, fix=_REGENERATE).get("config") != wanted["config"]:
            raise CellclrError(
                "is not empty and holds no unfinished synthetic dataset with these parameters",
                path=out,
                fix="choose an empty or new --out folder",
            )
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / PARTIAL_MARKER, wanted)

    chosen = panel_files(choose_fields(config), config.panel)
    tasks = [(row, config, str(out)) for row in chosen.to_dict("records")]
    truth_rows: list[dict] = []
    for rows in progress_bar(
        _map(tasks, workers), total=len(tasks), desc="synthetic fields", unit="field", disable=not progress
    ):
        truth_rows += rows

    treatments = _write_tables(out, chosen, config.panel)
    write_table_atomic(out / TRUTH_FILE, pd.DataFrame(truth_rows))
    summary = {
        "dataset": "synthetic",
        "preset": config.preset,
        "seed": config.seed,
        "n_fields": len(chosen),
        "n_plates": int(chosen["plate"].nunique()),
        "n_weeks": int(chosen["batch"].nunique()),
        "n_treatments": len(treatments) - int((treatments["compound"] == metadata.DMSO).any()),
        "n_nuclei": len(truth_rows),
        **wanted,
    }
    write_json_atomic(marker, summary)
    (out / PARTIAL_MARKER).unlink(missing_ok=True)
    return out


def _map(tasks: list, workers: int) -> Iterator[list[dict]]:
    """Render in order, in ``workers`` processes when more than one (:mod:`cellclr_lib.pool`)."""
    with WorkerPool(workers) as pool:
        yield from pool.map(_render_task, tasks)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _config_record(config: SynthConfig) -> dict[str, Any]:
    """The configuration as the markers save it; BBBC021's panel, the default, is left out.

    So a set written before panels existed is still recognised as the same set, and its marker keeps its bytes.
    """
    record = _jsonable(asdict(config))
    if record["panel"] == "bbbc021":
        del record["panel"]
    return record


# ------------------------------------------------------------------------------------------------ CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``cellclr synth``."""
    parser.add_argument("--out", required=True, type=Path, help="output folder (BBBC021 layout)")
    parser.add_argument(
        "--preset", default="tiny", choices=list(PRESETS), help="tiny (tests) or small (the book)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes")
    parser.add_argument(
        "--panel",
        default="bbbc021",
        choices=list(PANELS),
        help="stains: bbbc021 (DAPI, Tubulin, Actin; BBBC021's format) or cellpainting (DNA, ER, RNA, AGP, "
        "Mito; a LoadData table)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="processes rendering fields (default: 1, this process)",
    )
    parser.add_argument(
        "--field-size", type=int, nargs=2, metavar=("ROWS", "COLS"), help="image size in pixels"
    )
    parser.add_argument(
        "--batch-effect", type=float, help="strength of week/plate effects (0 = none, 1 = default)"
    )
    parser.add_argument("--compounds-per-moa", type=int, help="compounds drawn per MoA")
    parser.add_argument(
        "--concentrations-per-compound", type=int, help="highest concentrations kept per compound"
    )
    parser.add_argument("--replicates", type=int, help="wells per treatment (1-3)")
    parser.add_argument("--sites", type=int, help="fields per well (1-4)")


def main(args: argparse.Namespace) -> int:
    """``cellclr synth``: generate, then print where and how big."""
    overrides = {
        key: value
        for key, value in {
            "field_shape": args.field_size,
            "batch_effect": args.batch_effect,
            "compounds_per_moa": args.compounds_per_moa,
            "concentrations_per_compound": args.concentrations_per_compound,
            "replicates": args.replicates,
            "sites": args.sites,
            "panel": args.panel,
        }.items()
        if value is not None
    }
    out = generate(args.out, preset=args.preset, seed=args.seed, workers=args.workers, **overrides)
    info = read_json(out / SYNTHETIC_MARKER, fix=_REGENERATE)
    panel = ", Cell Painting panel" if args.panel == "cellpainting" else ""
    print(
        f"{out}: synthetic BBBC021 ({info['preset']}{panel}, seed {info['seed']}): {info['n_fields']} fields on "
        f"{info['n_plates']} plates in {info['n_weeks']} weeks, {info['n_treatments']} treatments, "
        f"{info['n_nuclei']} nuclei"
    )
    return 0
