"""Rendering of synthetic MCF-7-like fields: three fluorescence channels, one phenotype vector per cell.

Everything is vectorised over pixels: each pixel is assigned to its nearest cell (a Voronoi partition computed
with one Euclidean distance transform), then every channel is a closed-form function of the pixel's offset
from its cell's centre and of that cell's phenotype parameters, gathered per pixel by fancy indexing. Smooth
random textures are Gaussian-filtered white noise. No Python loop runs over pixels or cells.

Phenotype parameters (one row per cell, see :data:`PHENOTYPE`) and what each MoA does to them are in
:mod:`cellclr_lib.data.synth`; this module only draws. The per-cell random draws (:func:`draw_cells`) come
before the per-pixel ones (:func:`render_field`), so the true nuclei of a field can be recomputed without
rendering it — that is what makes resuming an interrupted generation cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: phenotype parameters; the baseline (DMSO) value of each. The synthetic module moves them per MoA.
PHENOTYPE: dict[str, float] = {
    "cell_scale": 1.0,  # cell radius multiplier
    "nucleus_scale": 1.0,  # nucleus radius multiplier
    "roundness": 0.0,  # 0 = irregular spread outline, 1 = round
    "dna_intensity": 1.0,  # DAPI brightness
    "dna_texture": 0.3,  # chromatin texture amplitude
    "dna_condensed": 0.0,  # mitotic condensation: small, bright, spotty nucleus
    "multinucleated": 0.0,  # probability of a second nucleus
    "tubulin_intensity": 1.0,
    "tubulin_diffuse": 0.0,  # 1 = no filaments, uniform haze
    "tubulin_bundled": 0.0,  # thick, bright, peripheral bundles
    "actin_cortex": 1.0,  # brightness of the cortical ring
    "actin_fibres": 1.0,  # stress fibres across the cell
    "actin_puncta": 0.0,  # aggregates
    "brightness": 1.0,  # overall cell brightness (all channels)
}
PHENOTYPE_NAMES = tuple(PHENOTYPE)

NUCLEUS_RADIUS = 10.0  # pixels, DMSO
CELL_RADIUS = 24.0  # pixels, DMSO


@dataclass(frozen=True)
class Acquisition:
    """How a plate was imaged: the batch effects of one (week, plate)."""

    gain: tuple[float, float, float]  # stain intensity per channel
    background: tuple[float, float, float]  # camera offset + autofluorescence per channel
    vignetting: float  # relative brightness loss at the field corners
    blur: float  # focus blur σ in pixels
    read_noise: float  # camera read noise (grey levels)


def place_cells(shape: tuple[int, int], density: float, rng: np.random.Generator) -> np.ndarray:
    """Cell centres ``(n, 2)`` as (x, y) on a jittered grid: dense, but nuclei never touch.

    Grid spacing is 2.1 cell radii; each centre is jittered by up to 0.25 spacing and kept with probability
    ``density``. Cells may extend past the field's border, as in real fields.
    """
    spacing = 2.1 * CELL_RADIUS
    ys, xs = np.mgrid[spacing / 2 : shape[0] : spacing, spacing / 2 : shape[1] : spacing]
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    centres += rng.uniform(-0.25, 0.25, centres.shape) * spacing
    return centres[rng.random(len(centres)) < density]


def smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return (field - field.mean()) / (field.std() + 1e-8)


@dataclass(frozen=True)
class Cells:
    """The cells of one field: centres ``(n, 2)`` as (x, y), phenotype ``params`` and their random shape draws."""

    centres: np.ndarray
    params: dict[str, np.ndarray]  # phenotype name -> (n,)
    angle: np.ndarray  # orientation of the long axis
    elong: np.ndarray  # aspect ratio of the outline
    r_nuc: np.ndarray  # nucleus radius (px)
    r_cell: np.ndarray  # cell radius (px)
    lobes: np.ndarray  # number of lobes of the outline
    lobe_phase: np.ndarray
    second: np.ndarray  # bool: has a second nucleus
    fibre_angle: np.ndarray  # direction of the stress fibres
    filaments: np.ndarray  # number of radial microtubule bundles

    def nuclei(self) -> np.ndarray:
        """The true nuclei ``(m, 4)``: x, y, radius, cell index (a multinucleated cell has two rows)."""
        n = len(self.centres)
        shift = np.where(self.second, 1.1 * self.r_nuc, 0.0)
        shift_xy = np.stack([shift * np.cos(self.angle), shift * np.sin(self.angle)], axis=1)
        first, extra = self.centres - shift_xy, (self.centres + shift_xy)[self.second]
        return np.concatenate(
            [
                np.column_stack([first, self.r_nuc, np.arange(n)]),
                np.column_stack([extra, self.r_nuc[self.second], np.flatnonzero(self.second)]),
            ]
        )


def draw_cells(centres: np.ndarray, params: np.ndarray, rng: np.random.Generator) -> Cells:
    """Draw each cell's shape from its phenotype: ``params`` is ``(n, len(PHENOTYPE))`` in PHENOTYPE_NAMES order."""
    p = {name: params[:, i] for i, name in enumerate(PHENOTYPE_NAMES)}
    n = len(centres)
    return Cells(
        centres=centres,
        params=p,
        angle=rng.uniform(0, np.pi, n),
        elong=1 + 0.25 * (1 - np.clip(p["roundness"], 0, 1)) * rng.uniform(0.3, 1, n),
        r_nuc=NUCLEUS_RADIUS * p["nucleus_scale"] * (1 - 0.4 * np.clip(p["dna_condensed"], 0, 1)),
        r_cell=CELL_RADIUS * p["cell_scale"],
        lobes=rng.integers(3, 6, n),
        lobe_phase=rng.uniform(0, 2 * np.pi, n),
        second=rng.random(n) < p["multinucleated"],
        fibre_angle=rng.uniform(0, np.pi, n),
        filaments=rng.integers(10, 18, n),
    )


def render_field(
    shape: tuple[int, int], cells: Cells, acquisition: Acquisition, rng: np.random.Generator
) -> np.ndarray:
    """Render one field as ``(3, H, W)`` uint16 (DAPI, Tubulin, Actin)."""
    p, centres, n = cells.params, cells.centres, len(cells.centres)
    angle, elong, r_nuc, r_cell = cells.angle, cells.elong, cells.r_nuc, cells.r_cell
    lobes, lobe_phase, second = cells.lobes, cells.lobe_phase, cells.second
    fibre_angle, filaments = cells.fibre_angle, cells.filaments

    # Voronoi partition: every pixel belongs to its nearest cell centre.
    seeds = np.ones(shape, dtype=bool)
    iy = np.clip(np.round(centres[:, 1]).astype(int), 0, shape[0] - 1)
    ix = np.clip(np.round(centres[:, 0]).astype(int), 0, shape[1] - 1)
    seeds[iy, ix] = False
    owner_map = np.full(shape, -1, dtype=np.int64)
    owner_map[iy, ix] = np.arange(n)
    _, (ny, nx) = ndimage.distance_transform_edt(seeds, return_indices=True)
    owner = owner_map[ny, nx]

    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    dx, dy = xx - centres[owner, 0], yy - centres[owner, 1]
    cos, sin = np.cos(angle[owner]), np.sin(angle[owner])
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # cell frame
    theta = np.arctan2(v, u)

    # Cell outline: a lobed, elongated shape that becomes a circle as roundness -> 1.
    wobble = (
        0.18 * (1 - np.clip(p["roundness"], 0, 1))[owner] * np.cos(lobes[owner] * theta + lobe_phase[owner])
    )
    outline = r_cell[owner] * (1 + wobble)
    r_c = np.hypot(u / elong[owner], v * elong[owner] ** 0.5) / outline
    cell = 1 / (1 + np.exp((r_c - 1) * 12))

    # Nuclei: one ellipse, a second one for multinucleated cells (offset along the cell's long axis).
    offset = np.where(second, 1.1 * r_nuc, 0.0)[owner]  # nucleus 1 at u = -offset, nucleus 2 at u = +offset
    r_n1 = np.hypot((u + offset) / (r_nuc[owner] * 1.1), v / (r_nuc[owner] * 0.9))
    r_n2 = np.where(
        second[owner], np.hypot((u - offset) / (r_nuc[owner] * 1.1), v / (r_nuc[owner] * 0.9)), np.inf
    )
    nucleus = 1 / (1 + np.exp((np.minimum(r_n1, r_n2) - 1) * 10))

    chromatin = smooth_noise(shape, 1.2, rng)
    texture = 1 + (p["dna_texture"][owner] + 0.6 * p["dna_condensed"][owner]) * chromatin
    dna = (
        nucleus
        * p["dna_intensity"][owner]
        * (1 + 0.8 * p["dna_condensed"][owner])
        * np.clip(texture, 0, None)
    )

    cytoplasm = np.clip(cell - nucleus, 0, 1)
    streaks = 0.5 + 0.5 * np.cos(filaments[owner] * theta + 1.5 * smooth_noise(shape, 6, rng))
    bundles = streaks**6 * np.clip(r_c, 0, 1) ** 2
    diffuse = np.clip(p["tubulin_diffuse"][owner], 0, 1)
    bundled = np.clip(p["tubulin_bundled"][owner], 0, 1)
    network = (1 - diffuse) * ((1 - bundled) * streaks + bundled * 2.5 * bundles) + diffuse * 0.6
    tubulin = cytoplasm * p["tubulin_intensity"][owner] * (0.35 + network)

    cortex = np.exp(-(((r_c - 0.92) / 0.09) ** 2)) * p["actin_cortex"][owner]
    fibre_phase = dx * np.cos(fibre_angle[owner]) + dy * np.sin(fibre_angle[owner])
    fibres = (0.5 + 0.5 * np.cos(fibre_phase * 0.8)) ** 6 * p["actin_fibres"][owner] * 0.4
    puncta = np.clip(smooth_noise(shape, 1.5, rng) - 1.6, 0, None) * 3 * p["actin_puncta"][owner]
    actin = cell * (0.15 + cortex + fibres + puncta)

    brightness = p["brightness"][owner]
    signal = np.stack([dna * 3000, tubulin * 1800, actin * 1500]) * brightness
    if acquisition.blur > 0:
        signal = ndimage.gaussian_filter(signal, sigma=(0, acquisition.blur, acquisition.blur))
    corner = np.hypot((xx - shape[1] / 2) / (shape[1] / 2), (yy - shape[0] / 2) / (shape[0] / 2)) / np.sqrt(2)
    shading = 1 - acquisition.vignetting * corner**2
    gain = np.asarray(acquisition.gain, dtype=np.float32)[:, None, None]
    background = np.asarray(acquisition.background, dtype=np.float32)[:, None, None]
    image = (signal * gain + background) * shading
    image = rng.poisson(np.clip(image, 0, None)).astype(np.float32)  # shot noise
    image += rng.normal(0, acquisition.read_noise, image.shape)
    return np.clip(np.rint(image), 0, 65535).astype(np.uint16)
