"""Rendering of synthetic MCF-7 fields at BBBC021's native scale: 16-bit fluorescence channels.

Cells are drawn from per-well parameters (:data:`DMSO` values times the multipliers
:mod:`cellclr_lib.data.standin_phenotype` derives from the real profiles) plus cell-to-cell variation:

* **layout** — colonies: a jittered hexagonal lattice at the spacing of touching cells, thinned by a smooth
  random "colony" field, so cells sit in clusters that touch each other, as MCF-7 does;
* **outlines** — every cell and nucleus is an ellipse (axis ratio from the eccentricity) whose radius is
  modulated by low harmonics (lobes: solidity) and high harmonics (roughness: form factor); cells that
  spread (a larger cell area) grow more lobes. A pixel belongs to the cell whose *normalised* radius ρ (1 on
  its outline) is smallest: touching cells share a boundary that bends with their shapes, without Voronoi
  seams; the nucleus always belongs to its own cell;
* **channels** — DNA with chromatin texture and darker nucleoli; tubulin as a diffuse cytoplasm, a brighter
  perinuclear region, a bright centrosome beside the nucleus and a fine meshwork (the zero-crossings of
  smooth noise look like curved filaments); actin cortical along the cell edge, with bright stretches
  (ruffles, junctions) and some oriented stress fibres; both diffuse stains brighter where the cell is
  thicker (a dome over the cell: a widefield image sums the stain over the cell's height, which puts real
  actin over the nuclei and lets it correlate with DNA); a few percent of mitotic cells (round, small,
  condensed bright DNA);
* **panels** — BBBC021's three stains (DAPI, Tubulin, Actin), or the five of Cell Painting (DNA, ER, RNA, AGP,
  Mito) derived from the same cells, masks and textures (:func:`_cell_painting_stains`, not calibrated), so
  that pipelines over any number of channels can be tried without data;
* **camera** — optical blur, background ≈ 700 counts, vignetting, Poisson shot noise and Gaussian read noise.

The per-cell random draws (:func:`draw_cells`) come before the per-pixel ones (:func:`render_field`), so the
true nuclei of a field can be recomputed without rendering it (cheap resuming). Only the rasterisation loops
over cells (each in its own window, ~30 per field); everything per pixel is vectorised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: DMSO value of every renderer parameter (tuned once so the hand-engineered features measure the real DMSO
#: medians on the crops; the calibration multiplies them per well). Areas in px², intensities in counts
#: above background, shape parameters dimensionless.
DMSO: dict[str, float] = {
    "nucleus_area": 965.0,
    "cell_area": 5900.0,
    "nucleus_aspect": 0.232,  # excess axis ratio: 1.232
    "cell_aspect": 1.1,
    "nucleus_lobes": 0.075,
    "cell_lobes": 0.06,
    "nucleus_roughness": 0.001,
    "cell_roughness": 0.014,
    "density": 0.8,  # fraction of lattice sites holding a cell
    "dna": 7250.0,  # intensities at real raw levels: DMSO crops peak at ≈ 9,200 counts of DAPI, with
    "tubulin": 3200.0,  # medians ≈ 5,400 (tubulin) and ≈ 3,400 (actin), background included (real: ≈ 10,000,
    "actin": 3370.0,  # ≈ 4,800, ≈ 2,500); the 8-bit crops are scaled per plate, their noise follows these
    "mitotic": 0.03,  # fraction of cells in mitosis
    "actin_over_nucleus": 1.3,
    "tubulin_over_nucleus": 1.0,
    "dna_texture": 0.24,
    "tubulin_texture": 0.45,
    "actin_texture": 0.45,
}
#: cell-to-cell variation within a well (log-normal σ; ``shape``: ± relative range of aspect and harmonics).
#: Not in the per-well profiles (they hold well means only); kept modest so that wells of a few dozen measured
#: cells do not vary much more than real wells of hundreds.
CELL_SPREAD = {"area": 0.1, "intensity": 0.08, "texture": 0.08, "shape": 0.1}
#: a mitotic cell is round and small, with condensed, brighter DNA (morphology, not calibrated).
MITOSIS = {"cell_area": 0.45, "nucleus_area": 0.4, "dna": 2.2, "tubulin": 1.3, "dna_texture": 2.0}
#: lattice site area / drawn cell area: below 1, neighbouring outlines overlap and share a boundary.
PACKING = 0.75
RHO_MAX = 1.3  #: ρ beyond which a pixel is background for sure (the soft cell edge is gone)
#: brightness of the cortex's bright stretches (ruffles, junctions) per unit of their texture: they give crops
#: the real actin contrast (max / median ≈ 3.2, against 1.5 with an even cortex).
ACTIN_FOCI = 4.0
#: the bright stretches lie where smooth noise exceeds this many SDs (about a sixth of the cortex).
FOCI_LEVEL = 1.0
#: a well's cell lobes grow as its cell-area multiplier to this power: cells that spread put out protrusions.
#: Larger, less crowded cells measure *more* solid on the crops, where real ones lose solidity; this halves
#: that (DNA damage, `small` seed 0: +3.8 → +2.3 SDs, real −0.3).
SPREAD_LOBES = 2.0
CENTROSOME = 2.5  #: peak tubulin of the centrosome, in units of the cell's tubulin level
PERINUCLEAR = 2.5  #: the perinuclear tubulin fades to nothing at this ρ of the nucleus
BACKGROUND = 700.0  #: camera offset + autofluorescence, counts (real raw fields: ≈ 700 per channel)
COUNTS_PER_PHOTON = 2.0  #: camera gain: shot noise in counts is √(2 × signal)
#: the stains each panel renders, in file and store order: BBBC021's three, or the five of Cell Painting.
PANELS: dict[str, tuple[str, ...]] = {
    "bbbc021": ("DAPI", "Tubulin", "Actin"),
    "cellpainting": ("DNA", "ER", "RNA", "AGP", "Mito"),
}


@dataclass(frozen=True)
class Acquisition:
    """How a plate was imaged: the camera part of its batch effects (stain changes are in the targets)."""

    background: tuple[float, ...]  # camera offset + autofluorescence per channel
    vignetting: float  # relative brightness loss at the field corners
    blur: float  # optical + focus blur σ in pixels
    read_noise: float  # camera read noise (counts)


def place_cells(shape: tuple[int, int], well: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """Cell centres ``(n, 2)`` as (x, y): a jittered hexagonal lattice of touching cells, thinned into colonies.

    The lattice spacing makes each site's area the well's cell area (times :data:`PACKING`), but never lets
    nuclei crowd into clumps; a smooth random field decides which sites
    hold a cell (the highest ``density`` fraction), so the kept cells form clusters. Cells may extend past the
    field's border, as in real fields.
    """
    area = DMSO["cell_area"] * well["cell_area"] * PACKING
    nucleus_diameter = 2 * np.sqrt(DMSO["nucleus_area"] * well["nucleus_area"] / np.pi)
    spacing = max(np.sqrt(2 * area / np.sqrt(3)), 1.8 * nucleus_diameter)  # nuclei stay apart, as in MCF-7
    rows = np.arange(-0.5 * spacing, shape[0] + spacing, spacing * np.sqrt(3) / 2)
    cols = np.arange(-0.5 * spacing, shape[1] + spacing, spacing)
    ys, xs = np.meshgrid(rows, cols, indexing="ij")
    xs = xs + (np.arange(len(rows)) % 2)[:, None] * spacing / 2
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    centres += rng.normal(0, 0.12 * spacing, centres.shape)
    colony = ndimage.gaussian_filter(rng.standard_normal((shape[0] // 16 + 4, shape[1] // 16 + 4)), 3.0)
    at = ndimage.map_coordinates(colony, (centres[:, ::-1].T + 32) / 16, order=1, mode="nearest")
    keep = np.clip(DMSO["density"] * well["density"], 0.3, 0.95)
    return centres[at >= np.quantile(at, 1 - keep)]


@dataclass(frozen=True)
class Cells:
    """The cells of one field: centres ``(n, 2)`` as (x, y) and one array per drawn property (``(n,)`` or
    ``(n, k)`` for outline harmonics)."""

    centres: np.ndarray
    props: dict[str, np.ndarray]

    def nucleus_centres(self) -> np.ndarray:
        """Nucleus centres ``(n, 2)`` as (x, y): off the cell centre by a small random offset."""
        return self.centres + self.props["nucleus_offset"]

    def nuclei(self) -> np.ndarray:
        """The true nuclei ``(n, 4)``: x, y, radius (of the disk of equal area), cell index."""
        radius = np.sqrt(self.props["nucleus_area"] / np.pi)
        return np.column_stack([self.nucleus_centres(), radius, np.arange(len(self.centres))])


def _lognormal(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    return np.exp(rng.normal(-(sigma**2) / 2, sigma, n))


def _uniform_around_one(rng: np.random.Generator, size) -> np.ndarray:
    return rng.uniform(1 - CELL_SPREAD["shape"], 1 + CELL_SPREAD["shape"], size)


def _harmonics(
    rng: np.random.Generator, amplitude: np.ndarray, orders: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes ``(n, k)`` (falling as 1/order, total ≈ ``amplitude``) and random phases of outline harmonics."""
    n, k = len(amplitude), len(orders)
    weights = 1 / np.asarray(orders, dtype=float)
    amps = amplitude[:, None] * _uniform_around_one(rng, (n, k)) * weights / weights.sum() * 2
    return amps, rng.uniform(0, 2 * np.pi, (n, k))


def draw_cells(centres: np.ndarray, well: dict[str, float], rng: np.random.Generator) -> Cells:
    """Draw every cell's shape, intensities and textures from the well's multipliers (see :data:`DMSO`)."""
    n = len(centres)
    base = {name: DMSO[name] * well.get(name, 1.0) for name in DMSO}
    mitotic = rng.random(n) < np.clip(base["mitotic"], 0, 0.6)
    shrink = {key: np.where(mitotic, factor, 1.0) for key, factor in MITOSIS.items()}
    props: dict[str, np.ndarray] = {"mitotic": mitotic}
    for name in ("cell_area", "nucleus_area"):
        props[name] = base[name] * _lognormal(rng, CELL_SPREAD["area"], n) * shrink[name]
    for name in ("dna", "tubulin", "actin"):
        props[name] = base[name] * _lognormal(rng, CELL_SPREAD["intensity"], n) * shrink.get(name, 1.0)
    for name in ("dna_texture", "tubulin_texture", "actin_texture"):
        props[name] = base[name] * _lognormal(rng, CELL_SPREAD["texture"], n) * shrink.get(name, 1.0)
    for name in ("actin_over_nucleus", "tubulin_over_nucleus"):
        props[name] = np.full(n, base[name])
    spreading = well.get("cell_area", 1.0) ** SPREAD_LOBES
    for part in ("cell", "nucleus"):
        round_up = np.where(mitotic, 0.15, 1.0)  # rounded, but blebbing: outlines keep their harmonics
        props[f"{part}_aspect"] = 1 + base[f"{part}_aspect"] * _uniform_around_one(rng, n) * round_up
        lobes = base[f"{part}_lobes"] * (spreading if part == "cell" else 1.0)
        props[f"{part}_lobe_amp"], props[f"{part}_lobe_phase"] = _harmonics(
            rng, np.full(n, lobes), LOBE_ORDERS
        )
        props[f"{part}_rough_amp"], props[f"{part}_rough_phase"] = _harmonics(
            rng, np.full(n, base[f"{part}_roughness"]), ROUGH_ORDERS
        )
    props["angle"] = rng.uniform(0, np.pi, n)
    props["nucleus_angle"] = props["angle"] + rng.normal(0, 0.3, n)
    r_cell = np.sqrt(props["cell_area"] / np.pi)
    props["nucleus_offset"] = rng.normal(0, 0.08, (n, 2)) * r_cell[:, None] * (~mitotic)[:, None]
    return Cells(centres=np.asarray(centres, dtype=float), props=props)


LOBE_ORDERS = (3, 4, 5)  #: outline harmonics that make lobes (lower solidity)
ROUGH_ORDERS = (6, 8, 10)  #: outline harmonics that make a ragged edge (lower form factor)


def _normalised_radius(dx: np.ndarray, dy: np.ndarray, props: dict, i: int, part: str) -> np.ndarray:
    """ρ of pixels at offsets (dx, dy) from the centre of cell ``i``'s ``part``: 1 on its outline.

    The outline's harmonics cos(kθ + φ) are the real parts of powers of the unit complex number e^{iθ}
    (cheaper than an arctan and a cosine per harmonic).
    """
    angle = props["nucleus_angle" if part == "nucleus" else "angle"][i]
    aspect = np.sqrt(props[f"{part}_aspect"][i])
    u = dx * np.float32(np.cos(angle)) + dy * np.float32(np.sin(angle))
    v = dy * np.float32(np.cos(angle)) - dx * np.float32(np.sin(angle))
    distance = np.hypot(u, v) + np.float32(1e-6)
    unit = (u + 1j * v).astype(np.complex64) / distance
    outline = np.ones_like(u)
    power, order = np.ones_like(unit), 0
    for kind, orders in (("lobe", LOBE_ORDERS), ("rough", ROUGH_ORDERS)):
        amps, phases = props[f"{part}_{kind}_amp"][i], props[f"{part}_{kind}_phase"][i]
        for k, amp, phase in zip(orders, amps, phases, strict=True):
            power, order = power * unit ** (k - order), k
            outline += (np.complex64(amp * np.exp(1j * phase)) * power).real
    radius = np.sqrt(props[f"{part}_area"][i] / np.pi)
    return np.hypot(u / aspect, v * aspect) / (np.float32(radius) * outline)


def _window(shape: tuple[int, int], x: float, y: float, reach: float) -> tuple[slice, slice] | None:
    """The part of the field within ``reach`` px of (x, y), or None where it lies wholly outside."""
    top, left = max(int(y - reach), 0), max(int(x - reach), 0)
    bottom, right = min(int(y + reach) + 1, shape[0]), min(int(x + reach) + 1, shape[1])
    return (slice(top, bottom), slice(left, right)) if top < bottom and left < right else None


def rasterise(shape: tuple[int, int], cells: Cells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: owning cell (−1 = background), its ρ (cell outline = 1) and ρ of its nucleus (outline = 1).

    Cells first (each pixel to the cell of smallest ρ), then nuclei: a nucleus always belongs to its own cell.
    """
    owner = np.full(shape, -1, dtype=np.int64)
    rho = np.full(shape, RHO_MAX, dtype=np.float32)
    rho_n = np.full(shape, np.inf, dtype=np.float32)
    props, nuclei = cells.props, cells.nucleus_centres()
    for part, centres, extent in (("cell", cells.centres, 1.2 * RHO_MAX), ("nucleus", nuclei, PERINUCLEAR)):
        reach = np.sqrt(props[f"{part}_area"] / np.pi * props[f"{part}_aspect"]) * extent + 2
        for i, (x, y) in enumerate(centres):
            window = _window(shape, x, y, reach[i])
            if window is None:
                continue
            yy, xx = np.mgrid[window].astype(np.float32)
            r = _normalised_radius(xx - np.float32(x), yy - np.float32(y), props, i, part)
            if part == "cell":
                wins = r < rho[window]
                rho[window] = np.where(wins, r, rho[window])
            else:
                wins = r < 1
                rho_n[window] = np.where(wins | (owner[window] == i), r, rho_n[window])
            owner[window] = np.where(wins, i, owner[window])
    return owner, rho, rho_n


def smooth_noise(
    shape: tuple[int, int], sigma: float | tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Gaussian-filtered white noise (``sigma`` may be per axis), rescaled to zero mean and unit SD."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field - field.mean()) / (field.std() + 1e-8)


def _filaments(
    shape: tuple[int, int], sigma: float | tuple[float, float], width: float, rng: np.random.Generator
) -> np.ndarray:
    """Thin curved lines in [0, 1]: the neighbourhood of the zero level of smooth noise."""
    return np.exp(-((smooth_noise(shape, sigma, rng) / width) ** 2))


def _textures(
    shape: tuple[int, int], rng: np.random.Generator, panel: str = "bbbc021"
) -> dict[str, np.ndarray]:
    """The field's random textures, one array each (drawn in a fixed order: the bytes depend on it).

    The Cell Painting panel draws one more (mitochondrial puncta) *after* BBBC021's, so BBBC021's fields keep
    their bytes.
    """
    textures = {
        "chromatin": smooth_noise(shape, 1.0, rng) - 0.5 * smooth_noise(shape, 3.0, rng),
        "nucleoli": np.clip(smooth_noise(shape, 2.5, rng) - 1.6, 0, None),
        "mesh": 0.6 * _filaments(shape, 2.0, 0.25, rng) + 0.4 * _filaments(shape, 4.0, 0.2, rng),
        "fibres_h": _filaments(shape, (1.0, 8.0), 0.3, rng),
        "fibres_v": _filaments(shape, (8.0, 1.0), 0.3, rng),
        "blotch": smooth_noise(shape, 6.0, rng),
        "foci": np.clip(smooth_noise(shape, 3.0, rng) - FOCI_LEVEL, 0, None),
    }
    if panel == "cellpainting":
        textures["puncta"] = np.clip(smooth_noise(shape, 1.0, rng) - 1.0, 0, None)
    return textures


def _centrosomes(shape: tuple[int, int], cells: Cells, sigma: float = 2.0) -> np.ndarray:
    """One bright spot (peak 1) per cell beside its nucleus: the centrosome, where microtubules start."""
    nuclei = cells.nuclei()
    angle = cells.props["angle"] + np.pi / 2
    x = np.rint(nuclei[:, 0] + 1.3 * nuclei[:, 2] * np.cos(angle)).astype(int)
    y = np.rint(nuclei[:, 1] + 1.3 * nuclei[:, 2] * np.sin(angle)).astype(int)
    inside = (x >= 0) & (x < shape[1]) & (y >= 0) & (y < shape[0])
    spots = np.zeros(shape, dtype=np.float32)
    np.add.at(spots, (y[inside], x[inside]), np.float32(2 * np.pi * sigma**2))
    return ndimage.gaussian_filter(spots, sigma)


def _per_pixel(cells: Cells, owner: np.ndarray) -> Callable[[str], np.ndarray]:
    """A look-up of the owning cell's property at every pixel (0 on background, owner −1)."""

    def take(name: str) -> np.ndarray:
        return np.append(cells.props[name], 0.0).astype(np.float32)[owner]

    return take


def _masks(owner: np.ndarray, rho: np.ndarray, rho_n: np.ndarray) -> dict[str, np.ndarray]:
    """Soft masks every stain is made of: cell, nucleus, perinuclear region, cell edge, cortex and dome.

    Computed once per field and shared by the stains, so every panel draws the very same cells.
    """
    return {
        "cell": 1 / (1 + np.exp((rho - 1) * 30)),
        "nucleus": 1 / (1 + np.exp((np.minimum(rho_n, 3) - 1) * 25)) * (owner >= 0),
        "perinuclear": np.clip((PERINUCLEAR - rho_n) / (PERINUCLEAR - 1), 0, 1) ** 2,
        "edge": np.clip((rho - 0.75) / 0.25, 0, 1) ** 2,  # membranes of touching cells show as darker lines
        "cortex": np.exp(-(((rho - 0.97) / 0.05) ** 2)),
        "dome": np.clip(1 - rho**2, 0, 1) ** 0.3,  # widefield light grows with the cell's thickness
    }


def _bbbc021_stains(
    cells: Cells, owner: np.ndarray, rho_n: np.ndarray, masks: dict[str, np.ndarray], tex: dict
) -> dict[str, np.ndarray]:
    """Noise-free DNA, tubulin and actin above background (see the module docstring)."""
    take = _per_pixel(cells, owner)
    cell, nucleus, perinuclear, edge = masks["cell"], masks["nucleus"], masks["perinuclear"], masks["edge"]
    dna = take("dna") * nucleus * np.clip(1 + take("dna_texture") * tex["chromatin"], 0.1, None)
    interior = np.clip((1 - rho_n) / 0.3, 0, 1)  # nucleoli sit inside the nucleus, never on its rim
    dna *= (1 - 0.45 * np.clip(tex["nucleoli"], 0, 1) * interior) * (0.85 + 0.15 * np.minimum(rho_n, 1) ** 2)

    mesh = tex["mesh"] * (1 - 0.7 * take("mitotic"))
    dome = masks["dome"]
    tubulin = 0.2 + 0.5 * dome + 0.5 * perinuclear + take("tubulin_texture") * mesh * (1 + 0.8 * perinuclear)
    tubulin = tubulin + CENTROSOME * _centrosomes(owner.shape, cells)
    tubulin = take("tubulin") * cell * tubulin * (1 + 0.12 * tex["blotch"]) * (1 - 0.85 * edge)
    tubulin *= 1 - nucleus * (1 - take("tubulin_over_nucleus"))

    angle = np.append(cells.props["angle"], 0.0)[owner] + 0.3
    fibres = np.cos(angle) ** 2 * tex["fibres_h"] + np.sin(angle) ** 2 * tex["fibres_v"]
    actin = 0.15 + 0.6 * dome + masks["cortex"] + take("actin_texture") * fibres * (1 - nucleus) * (1 - edge)
    actin = actin + ACTIN_FOCI * tex["foci"] * masks["cortex"]
    actin *= 1 - nucleus * (1 - take("actin_over_nucleus"))
    return {"DAPI": dna, "Tubulin": tubulin, "Actin": take("actin") * cell * actin}


def _cell_painting_stains(
    cells: Cells, owner: np.ndarray, masks: dict[str, np.ndarray], bbbc: dict, tex: dict
) -> dict[str, np.ndarray]:
    """The five Cell Painting stains, derived from BBBC021's cells, masks and textures: *not calibrated*.

    Only their layout is meant to look like Cell Painting, so that a five-channel pipeline has real structure
    to learn; the treatment signatures reach them through the calibrated per-cell intensities they scale with
    (DNA and RNA with the DNA stain, ER and Mito with tubulin, AGP with actin). DNA is the nucleus channel
    itself; ER a reticular cytoplasm densest around the nucleus; RNA bright nucleoli plus a dim cytoplasm;
    AGP the cortical actin, the plasma membrane and a perinuclear Golgi patch; Mito bright puncta in the
    cytoplasm.
    """
    take = _per_pixel(cells, owner)
    perinuclear, blotch = masks["perinuclear"], tex["blotch"]
    cytoplasm = masks["cell"] * (1 - masks["nucleus"]) * (1 - 0.85 * masks["edge"])
    er = 0.7 * take("tubulin") * cytoplasm * (0.3 + 1.2 * perinuclear) * (0.5 + tex["mesh"])
    nucleoli = masks["nucleus"] * (0.5 + 4 * np.clip(tex["nucleoli"], 0, 1))
    rna = 0.4 * take("dna") * (nucleoli + 0.3 * cytoplasm * (1 + 0.2 * blotch))
    golgi = cytoplasm * perinuclear * np.clip(blotch, 0, None)
    agp = bbbc["Actin"] + take("actin") * (masks["cell"] * masks["cortex"] + golgi)  # + WGA's membranes
    mito = 0.5 * take("tubulin") * cytoplasm * (0.3 + perinuclear) * (0.2 + 3 * tex["puncta"])
    return {"DNA": bbbc["DAPI"], "ER": er, "RNA": rna, "AGP": agp, "Mito": mito}


def _signal(
    owner: np.ndarray, rho: np.ndarray, rho_n: np.ndarray, cells: Cells, tex: dict, panel: str = "bbbc021"
) -> np.ndarray:
    """Noise-free ``(C, H, W)`` signal above background, one plane per stain of the panel (:data:`PANELS`)."""
    if len(cells.centres) == 0:
        return np.zeros((len(PANELS[panel]), *owner.shape), dtype=np.float32)
    masks = _masks(owner, rho, rho_n)
    stains = _bbbc021_stains(cells, owner, rho_n, masks, tex)
    if panel == "cellpainting":
        stains = _cell_painting_stains(cells, owner, masks, stains, tex)
    return np.stack([stains[name] for name in PANELS[panel]]).astype(np.float32)


def render_field(
    shape: tuple[int, int],
    cells: Cells,
    acquisition: Acquisition,
    rng: np.random.Generator,
    panel: str = "bbbc021",
) -> np.ndarray:
    """Render one field as ``(C, H, W)`` uint16 raw counts, one plane per stain of ``panel`` (:data:`PANELS`).

    ``acquisition.background`` holds one value per stain.
    """
    owner, rho, rho_n = rasterise(shape, cells)
    signal = _signal(owner, rho, rho_n, cells, _textures(shape, rng, panel), panel)
    signal = ndimage.gaussian_filter(signal, sigma=(0, acquisition.blur, acquisition.blur))
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    corner = np.hypot((xx - shape[1] / 2) / (shape[1] / 2), (yy - shape[0] / 2) / (shape[0] / 2)) / np.sqrt(2)
    shading = 1 - acquisition.vignetting * corner**2
    background = np.asarray(acquisition.background, dtype=np.float32)[:, None, None]
    image = (signal + background) * shading
    photons = rng.poisson(np.clip(image, 0, None) / COUNTS_PER_PHOTON)
    image = photons * COUNTS_PER_PHOTON + rng.normal(0, acquisition.read_noise, image.shape)
    return np.clip(np.rint(image), 0, 65535).astype(np.uint16)
