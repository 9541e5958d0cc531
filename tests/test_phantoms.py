import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from liver3d.phantoms import Tissue, generate_phantom, write_phantom_dataset
from liver3d.phantoms.__main__ import main as phantoms_main
from liver3d.phantoms.acquisition import NOISE_SD_HU, SLICE_THICKNESSES_MM
from liver3d.phantoms.anatomy import (
    GENERATOR_VERSION,
    LIVER_CONDITIONS,
    LIVER_TISSUES,
    SCAN_RANGES,
    _sample_grid,
    _sample_layout,
)
from liver3d.phantoms.contrast import FATTY_LIVER_DROP_HU, PHASE_HU, Phase, draw_phase_densities
from liver3d.phantoms.geometry import PatientGrid, ellipsoid_q
from liver3d.phantoms.lesions import DIAMETER_MM, LesionType, lesion_density, plant_lesions

SHAPE = (96, 96, 48)
PHASE_SHAPE = (80, 80, 40)  # about 4 mm voxels: organs of a few voxels, cases in a tenth of a second
NORMAL_DENSITY = ("normal", "hepatomegaly")  # livers of normal density (cirrhosis enhances less)
# Peak of the lesion texture: a sum of four sinusoids of amplitude 1/sqrt(2) (geometry.Wobble).
TEXTURE_PEAK = 4 / np.sqrt(2)


@pytest.fixture(scope="module")
def case():
    return generate_phantom(np.random.default_rng([11, 0]), shape=SHAPE, n_tumors=3, phase="non_contrast")


def _first_cases(phase: Phase, conditions: tuple[str, ...], count: int, seed: int = 23) -> list:
    """The first ``count`` cases of ``seed`` in ``phase`` with one of ``conditions`` and no streaks.

    Deterministic (the same cases every run); streak-free so vessel medians are the tissue's own density.
    """
    found = []
    for index in range(60):
        case = generate_phantom(
            np.random.default_rng([seed, index]), shape=PHASE_SHAPE, n_tumors=0, phase=phase
        )
        if case.params["liver_condition"] in conditions and case.params["acquisition"]["streaks"] == "none":
            found.append(case)
            if len(found) == count:
                return found
    raise AssertionError(f"fewer than {count} {conditions} cases in phase {phase.value}")


@pytest.fixture(scope="module")
def normal_cases():
    return {phase: _first_cases(phase, NORMAL_DENSITY, 2) for phase in Phase}


def _median(case, tissue: Tissue, erode: int = 1) -> float:
    mask = case.tissue == tissue
    if erode:
        mask = ndimage.binary_erosion(mask, iterations=erode)
    assert mask.sum() >= 10, f"too few {tissue.name} voxels to measure"
    return float(np.median(case.image[mask]))


def _liver_median(case) -> float:
    core = ndimage.binary_erosion((case.label == 1) & (case.tissue == Tissue.LIVER), iterations=1)
    assert core.sum() > 200
    return float(np.median(case.image[core]))


# -- reproducibility -------------------------------------------------------------------------------


def test_same_seed_gives_the_same_image_label_and_tissue_map():
    a = generate_phantom(np.random.default_rng([5, 2]), shape=(48, 48, 24))
    b = generate_phantom(np.random.default_rng([5, 2]), shape=(48, 48, 24))
    c = generate_phantom(np.random.default_rng([5, 3]), shape=(48, 48, 24))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.label, b.label)
    assert a.tissue is not None and np.array_equal(a.tissue, b.tissue)
    assert a.params == b.params
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.tissue, c.tissue)


def test_default_grid_case_is_reproducible_with_matrix():
    a = generate_phantom(np.random.default_rng([6, 1]), matrix=48, n_tumors=1, slice_thickness_mm=5.0)
    b = generate_phantom(np.random.default_rng([6, 1]), matrix=48, n_tumors=1, slice_thickness_mm=5.0)
    assert a.image.shape[:2] == (48, 48) and a.grid.spacing[2] == 5.0
    assert np.array_equal(a.image, b.image) and np.array_equal(a.tissue, b.tissue)


# -- the volume --------------------------------------------------------------------------------------


def test_image_is_int16_hu_and_labels_are_0_1_2(case):
    assert case.image.dtype == np.int16 and case.image.shape == SHAPE
    assert set(np.unique(case.label)) <= {0, 1, 2}
    assert case.image.min() >= -1024 and case.image.min() < -900  # air
    assert case.tissue.dtype == np.uint8 and case.tissue.shape == SHAPE
    assert set(np.unique(case.tissue)) <= {int(t) for t in Tissue}


def test_non_contrast_tissue_densities_look_like_ct(case):
    assert case.params["phase"] == "non_contrast"
    assert case.params["liver_condition"] in NORMAL_DENSITY  # the fixture's seed has a normal liver
    img, lab = case.image.astype(float), case.label
    core = ndimage.binary_erosion(lab == 1, iterations=2)
    assert 45 <= np.median(img[core]) <= 75  # liver 50-70 HU plus noise
    assert {t.pattern for t in case.tumors} == {"metastasis"}
    tumor_core = ndimage.binary_erosion(lab == 2, iterations=1)
    assert tumor_core.any()
    assert np.median(img[tumor_core]) < np.median(img[core]) - 10  # hypodense
    assert (img > 300).sum() > 100  # vertebrae and ribs
    # Unenhanced: spleen a little below the liver, kidneys (30-40 HU) well below it.
    assert -15 <= case.params["spleen_hu"] - case.params["liver_hu"] <= 0
    assert case.params["kidney_hu"] < case.params["liver_hu"]
    assert NOISE_SD_HU[0] <= case.params["noise_sd_hu"] <= NOISE_SD_HU[1]
    # Lung bases near -850 HU appear in the top slices.
    top = img[:, :, -3:]
    assert ((top > -900) & (top < -780)).sum() > 50


def test_noise_level_in_homogeneous_liver_follows_the_drawn_sd(case):
    img, lab = case.image.astype(float), case.label
    core = ndimage.binary_erosion(lab == 1, iterations=3)
    residual = img - ndimage.uniform_filter(img, size=(5, 5, 1))
    sd = residual[core].std()
    assert 0.5 * case.params["noise_sd_hu"] <= sd <= 2.0 * case.params["noise_sd_hu"]


def test_tumors_are_inside_the_liver_and_recorded(case):
    assert len(case.tumors) == 3
    labelled = int((case.label == 2).sum())
    assert labelled == sum(t.voxels for t in case.tumors)
    for t in case.tumors:
        assert t.voxels > 0 and t.pattern in {k.value for k in LesionType}
        # Nominal diameter d in DIAMETER_MM; each radius is d / 2 times 0.8-1.2.
        assert 2 * min(t.radii_mm) / 0.8 >= DIAMETER_MM[0] - 1e-6
        assert 2 * max(t.radii_mm) / 1.2 <= DIAMETER_MM[1] + 1e-6
        assert 0 < t.equivalent_diameter_mm <= 2 * 1.2 * max(t.radii_mm)
        i, j, k = (int(round(v)) for v in case.grid.to_index(t.center_mm))
        assert case.label[i, j, k] in (1, 2)


def test_label_is_read_off_the_tissue_map():
    for index in range(3):
        c = generate_phantom(np.random.default_rng([8, index]), shape=(64, 64, 40), n_tumors=4)
        assert c.tumors  # every one of these seeds plants lesions
        assert np.array_equal(c.label == 2, c.tissue == Tissue.LESION)
        assert np.array_equal(c.label == 1, np.isin(c.tissue, LIVER_TISSUES))
        assert not np.isin(c.tissue[c.label == 0], [*LIVER_TISSUES, Tissue.LESION]).any()


def test_params_record_phase_condition_and_scan_range():
    c = generate_phantom(np.random.default_rng([9, 0]), shape=(48, 48, 24), phase=Phase.DELAYED)
    assert c.params["phase"] == "delayed"
    assert c.params["liver_condition"] in LIVER_CONDITIONS
    assert c.params["scan_range"] == "abdomen"  # a given shape scans the whole abdomen
    lo, hi = PHASE_HU[Phase.DELAYED]["aorta"]
    assert lo <= c.params["aorta_hu"] <= hi
    assert c.params["acquisition"]["slice_thickness_mm"] == pytest.approx(c.grid.spacing[2])


def test_unknown_phase_or_scan_range_is_refused():
    with pytest.raises(ValueError):
        generate_phantom(np.random.default_rng(0), shape=(32, 32, 16), phase="venous")
    with pytest.raises(ValueError, match="scan range"):
        generate_phantom(np.random.default_rng(0), shape=(32, 32, 16), scan_range="pelvis")


# -- contrast phases measured on generated volumes -----------------------------------------------------


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
def test_liver_median_lies_in_the_phase_range(normal_cases, phase):
    lo, hi = PHASE_HU[phase]["liver"]
    for c in normal_cases[phase]:
        assert c.params["phase"] == phase.value
        # Cupping darkens the body's centre by up to 12 HU, partial volume with vessels and fat a few more.
        assert lo - 15 <= _liver_median(c) <= hi + 10


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
def test_fatty_liver_is_darker_than_a_normal_one(normal_cases, phase):
    hi = PHASE_HU[phase]["liver"][1]
    normal = min(_liver_median(c) for c in normal_cases[phase])
    for c in _first_cases(phase, ("fatty",), 1, seed=29):
        assert _liver_median(c) <= hi - FATTY_LIVER_DROP_HU[0] + 5
        assert _liver_median(c) < normal - 10
        if phase is Phase.NON_CONTRAST:  # the classic sign: liver below the spleen without contrast
            assert _liver_median(c) < _median(c, Tissue.SPLEEN)


def test_arterial_aorta_is_bright_and_portal_venous_aorta_moderate(normal_cases):
    for c in normal_cases[Phase.ARTERIAL]:
        assert _median(c, Tissue.AORTA) > 230
    for c in normal_cases[Phase.PORTAL_VENOUS]:
        assert 140 <= _median(c, Tissue.AORTA) <= 210
    for c in normal_cases[Phase.NON_CONTRAST]:
        assert _median(c, Tissue.AORTA) < 60  # unenhanced blood


def test_arterial_kidneys_show_corticomedullary_differentiation(normal_cases):
    for c in normal_cases[Phase.ARTERIAL]:
        cortex, medulla = _median(c, Tissue.KIDNEY, 0), _median(c, Tissue.KIDNEY_MEDULLA, 0)
        assert cortex - medulla > 40


def test_portal_venous_kidneys_are_homogeneous(normal_cases):
    for c in normal_cases[Phase.PORTAL_VENOUS]:
        cortex, medulla = _median(c, Tissue.KIDNEY, 0), _median(c, Tissue.KIDNEY_MEDULLA, 0)
        assert abs(cortex - medulla) <= 15


def test_phase_densities_are_drawn_within_the_tables():
    for phase in Phase:
        for seed in range(5):
            hu = draw_phase_densities(np.random.default_rng(seed), phase)
            for name in ("liver", "aorta", "portal_vein", "renal_cortex", "pancreas"):
                lo, hi = PHASE_HU[phase][name]
                assert lo <= hu[name] <= hi
            s_lo, s_hi = PHASE_HU[phase]["spleen_offset"]
            assert s_lo <= hu["spleen"] - hu["liver"] <= s_hi
            if phase in (Phase.PORTAL_VENOUS, Phase.NON_CONTRAST):  # nephrographic / unenhanced
                assert -8 <= hu["renal_medulla"] - hu["renal_cortex"] <= 2


# -- lesion appearance (lesion_density on a synthetic sphere) ----------------------------------------


def _sphere(diameter_mm: float, spacing: float = 1.0):
    """Normalised radius rho and mm axes of a sphere of ``diameter_mm`` centred in a small grid."""
    n = int(np.ceil(diameter_mm / spacing)) + 5
    grid = PatientGrid((n, n, n), (spacing,) * 3, (-(n - 1) / 2 * spacing,) * 3)
    axes = grid.axes()
    r = diameter_mm / 2
    rho = np.sqrt(ellipsoid_q(axes, (0.0, 0.0, 0.0), (r, r, r)))
    return rho, axes


def _mid_hu(phase: Phase) -> dict[str, float]:
    table = PHASE_HU[phase]
    return {name: float(np.mean(table[name])) for name in ("liver", "aorta", "portal_vein")}


def _density(kind, phase, diameter, seed):
    rho, axes = _sphere(diameter)
    value, core = lesion_density(
        kind, phase, rho, axes, diameter, _mid_hu(phase), np.random.default_rng(seed)
    )
    assert value.shape == rho.shape and value.dtype == np.float32
    return rho, value, core


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
def test_cyst_never_enhances(phase):
    for seed in range(4):
        rho, value, core = _density(LesionType.CYST, phase, 20.0, seed)
        inside = value[rho < 1]
        assert 0 <= core <= 18
        assert -1 <= np.median(inside) <= 19  # water density (texture of about +-1 HU)
        assert inside.min() >= -TEXTURE_PEAK and inside.max() <= 18 + TEXTURE_PEAK


def test_hcc_enhances_in_arterial_and_washes_out_later():
    for seed in range(6):
        for phase, brighter in ((Phase.ARTERIAL, True), (Phase.PORTAL_VENOUS, False), (Phase.DELAYED, False)):
            rho, value, core = _density(LesionType.HCC, phase, 20.0, seed)  # < 30 mm: no necrotic core
            liver = _mid_hu(phase)["liver"]
            centre = float(np.median(value[rho < 0.7]))
            if brighter:
                assert core >= liver + 30 and centre > liver + 20
            else:
                assert core <= liver - 8 and centre < liver - 3


def test_hcc_capsule_is_brighter_than_liver_after_washout():
    seen = 0
    for seed in range(8):
        rho, value, _ = _density(LesionType.HCC, Phase.PORTAL_VENOUS, 20.0, seed)
        liver = _mid_hu(Phase.PORTAL_VENOUS)["liver"]
        capsule = float(np.median(value[(rho > 0.9) & (rho < 0.96)]))
        seen += capsule > liver + 5
    assert 3 <= seen <= 8  # drawn in about three of four lesions


def test_metastasis_is_hypodense_in_portal_venous_phase():
    liver = _mid_hu(Phase.PORTAL_VENOUS)["liver"]
    for seed in range(6):
        rho, value, core = _density(LesionType.METASTASIS, Phase.PORTAL_VENOUS, 12.0, seed)
        assert core <= liver - 30
        assert np.median(value[rho < 0.6]) < liver - 20


def test_large_hemangioma_fills_in_from_the_periphery_in_portal_venous_phase():
    portal = _mid_hu(Phase.PORTAL_VENOUS)["portal_vein"]
    for seed in range(5):
        rho, value, core = _density(LesionType.HEMANGIOMA, Phase.PORTAL_VENOUS, 40.0, seed)
        periphery = float(np.median(value[(rho > 0.9) & (rho < 1.0)]))
        centre = float(np.median(value[rho < 0.08]))
        assert 0.8 * portal <= periphery <= 1.05 * portal  # blood-pool density at the rim
        assert 30 - TEXTURE_PEAK * 3 <= centre <= 45 + TEXTURE_PEAK * 3  # not yet filled
        assert periphery > centre + 50


def test_small_hemangioma_fills_at_once_and_arterial_one_has_peripheral_nodules():
    portal = _mid_hu(Phase.PORTAL_VENOUS)["portal_vein"]
    rho, value, _ = _density(LesionType.HEMANGIOMA, Phase.PORTAL_VENOUS, 10.0, 0)
    assert np.median(value[rho < 1]) >= 0.8 * portal
    hu = _mid_hu(Phase.ARTERIAL)
    for seed in range(4):
        rho, value, _ = _density(LesionType.HEMANGIOMA, Phase.ARTERIAL, 40.0, seed)
        assert value[rho > 0.72].max() > hu["liver"] + 100  # nodules near the aorta's density
        assert np.median(value[rho < 0.5]) <= 45 + 3 * TEXTURE_PEAK  # centre unenhanced


def test_lipiodol_deposits_are_dense():
    for seed in range(5):
        rho, value, _ = _density(LesionType.LIPIODOL, Phase.PORTAL_VENOUS, 30.0, seed)
        assert (value[rho < 1] > 300).sum() > 20


@pytest.mark.parametrize("phase", list(Phase), ids=lambda p: p.value)
def test_ablation_zone_core_is_15_to_45_hu(phase):
    for seed in range(4):
        rho, value, core = _density(LesionType.ABLATION, phase, 25.0, seed)
        inner = value[rho < 0.8]
        assert 15 <= core <= 45
        assert 15 - 2 * TEXTURE_PEAK <= inner.min() and inner.max() <= 45 + 2 * TEXTURE_PEAK
        assert 15 - 1 <= np.median(inner) <= 45 + 1


def test_planted_cyst_is_labelled_and_keeps_its_density_in_a_bright_liver():
    spacing = 1.5
    grid = PatientGrid((48, 48, 48), (spacing,) * 3, (-35.25,) * 3)
    liver = np.sqrt(ellipsoid_q(grid.axes(), (0.0, 0.0, 0.0), (32.0, 32.0, 32.0))) < 1
    label = liver.astype(np.uint8)
    hu = np.where(liver, 110.0, -100.0).astype(np.float32)
    densities = {"liver": 110.0, "aorta": 170.0, "portal_vein": 175.0}
    lesions, mask = plant_lesions(
        grid,
        hu,
        label,
        np.zeros_like(liver),
        densities,
        Phase.PORTAL_VENOUS,
        np.random.default_rng(4),
        1,
        kinds=[LesionType.CYST],
    )
    assert len(lesions) == 1 and lesions[0].pattern == "cyst"
    assert np.array_equal(label == 2, mask) and mask.sum() == lesions[0].voxels > 0
    assert not (mask & ~liver).any()
    core = ndimage.binary_erosion(mask, iterations=1)
    assert core.any() and 0 <= np.median(hu[core]) <= 20


# -- scan ranges and grids ---------------------------------------------------------------------------


def test_slab_is_a_thin_range_through_the_liver():
    for index in range(4):
        c = generate_phantom(
            np.random.default_rng([3, index]),
            matrix=48,
            scan_range="slab",
            slice_thickness_mm=2.5,
            n_tumors=0,
        )
        thickness = c.grid.spacing[2]
        assert thickness == 2.5 and c.params["scan_range"] == "slab"
        assert 30 - thickness <= c.grid.shape[2] * thickness <= 120 + thickness
        assert (c.label > 0).any()
        # With a given shape the slab's length is cut into exactly that many slices.
        s = generate_phantom(np.random.default_rng([4, index]), shape=(40, 40, 16), scan_range="slab")
        assert 30 - 1e-6 <= s.grid.shape[2] * s.grid.spacing[2] <= 120 + 1e-6


def test_drawn_scan_ranges_are_the_known_ones():
    drawn = {
        generate_phantom(np.random.default_rng([12, i]), matrix=32, slice_thickness_mm=5.0).params[
            "scan_range"
        ]
        for i in range(12)
    }
    assert drawn <= set(SCAN_RANGES) and len(drawn) >= 3


def test_cut_scan_ranges_cut_through_the_liver():
    for index in range(4):
        top = generate_phantom(
            np.random.default_rng([3, index]), matrix=48, scan_range="liver_top_cut", slice_thickness_mm=2.5
        )
        assert (top.label[:, :, -1] > 0).sum() > 0  # liver in the top slice
        bottom = generate_phantom(
            np.random.default_rng([3, index]),
            matrix=48,
            scan_range="liver_bottom_cut",
            slice_thickness_mm=2.5,
        )
        assert (bottom.label[:, :, 0] > 0).sum() > 0  # liver in the bottom slice
        assert bottom.params["scan_range"] == "liver_bottom_cut"


def test_abdomen_chest_reaches_the_heart_and_lungs():
    c = generate_phantom(
        np.random.default_rng([3, 0]), matrix=48, scan_range="abdomen_chest", slice_thickness_mm=5.0
    )
    assert (c.tissue == Tissue.LUNG).sum() > 500
    assert np.isin(c.tissue, (Tissue.HEART, Tissue.HEART_LEFT, Tissue.HEART_RIGHT)).sum() > 200
    assert not (c.label[:, :, -1] > 0).any()  # the whole liver is inside the scan


def test_default_grid_is_clinical():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        layout = _sample_layout(rng)
        grid = _sample_grid(rng, layout, None)
        assert grid.shape[:2] == (512, 512)
        assert 0.6 <= grid.spacing[0] <= 0.95
        assert grid.spacing[2] in SLICE_THICKNESSES_MM
        assert grid.shape[2] >= 8


def test_smaller_matrix_keeps_the_body_in_the_field_of_view():
    for seed in range(10):
        rng = np.random.default_rng(seed)
        layout = _sample_layout(rng, Phase.ARTERIAL, "abdomen", 3.0)
        assert layout.phase is Phase.ARTERIAL and layout.acquisition.slice_thickness_mm == 3.0
        grid = _sample_grid(rng, layout, None, 128)
        assert grid.shape[:2] == (128, 128) and grid.spacing[2] == 3.0
        assert grid.spacing[0] * 128 >= 2 * layout.a  # field of view wider than the body
        assert 0.6 * 4 <= grid.spacing[0] <= 0.9 * 4 + 1e-6  # 0.6-0.9 mm at 512, scaled to 128


# -- datasets and the command line ---------------------------------------------------------------------


def test_dataset_has_decathlon_layout_and_varied_headers(tmp_path):
    path = write_phantom_dataset(tmp_path, cases=6, seed=1, shape=(40, 40, 20))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["labels"] == {"0": "background", "1": "liver", "2": "tumor"}
    assert data["numTraining"] == 6
    orientations = set()
    for entry in data["training"]:
        img = nib.load(tmp_path / entry["image"])
        lab = nib.load(tmp_path / entry["label"])
        assert img.get_data_dtype() == np.int16
        assert np.allclose(img.affine, lab.affine)
        assert "".join(nib.aff2axcodes(img.affine)) == entry["orientation"]
        assert entry["patient_id"]
        assert "tissue" not in entry  # only with tissues=True
        orientations.add(entry["orientation"])
    assert len(orientations) >= 2
    assert len({e["patient_id"] for e in data["training"]}) == 6
    assert not (tmp_path / "tissuesTr").exists()


def test_dataset_with_tissues_writes_tissue_maps_on_the_image_grid(tmp_path):
    path = write_phantom_dataset(
        tmp_path, cases=3, seed=2, shape=(40, 40, 20), n_tumors=2, phase="arterial", tissues=True
    )
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["generator_version"] == GENERATOR_VERSION
    assert len(list((tmp_path / "tissuesTr").glob("*.nii.gz"))) == 3
    for entry in data["training"]:
        img = nib.load(tmp_path / entry["image"])
        lab = nib.load(tmp_path / entry["label"])
        tis = nib.load(tmp_path / entry["tissue"])
        assert entry["tissue"] == f"tissuesTr/{entry['case_id']}.nii.gz"
        assert tis.shape == img.shape and np.allclose(tis.affine, img.affine)
        assert tis.get_data_dtype() == np.uint8
        tissue, label = np.asarray(tis.dataobj), np.asarray(lab.dataobj)
        # Stored in the same (reoriented) voxel order as the label.
        assert np.array_equal(label == 2, tissue == Tissue.LESION)
        assert np.array_equal(label == 1, np.isin(tissue, LIVER_TISSUES))
        assert entry["phase"] == "arterial"
        assert entry["liver_condition"] in LIVER_CONDITIONS
        assert entry["scan_range"] == "abdomen"
        assert entry["tumors"] and all(t["pattern"] in {k.value for k in LesionType} for t in entry["tumors"])


def test_case_does_not_depend_on_dataset_size(tmp_path):
    small = write_phantom_dataset(tmp_path / "a", cases=1, seed=4, shape=(32, 32, 16))
    write_phantom_dataset(tmp_path / "b", cases=2, seed=4, shape=(32, 32, 16))
    first_a = json.loads(small.read_text(encoding="utf-8"))["training"][0]["image"]
    a = np.asarray(nib.load(tmp_path / "a" / first_a).dataobj)
    b = np.asarray(nib.load(tmp_path / "b" / first_a).dataobj)
    assert np.array_equal(a, b)


def test_lesion_free_twins_share_anatomy_and_patient_but_not_lesions(tmp_path):
    datalist = write_phantom_dataset(tmp_path, cases=3, seed=0, shape=(64, 64, 32), twins=True)
    entries = json.loads(datalist.read_text(encoding="utf-8"))["training"]
    originals = [e for e in entries if "twin_of" not in e]
    twins = {e["twin_of"]: e for e in entries if "twin_of" in e}
    assert len(originals) == 3 and set(twins) == {e["case_id"] for e in originals if e["has_tumor"]}
    assert twins, "seed 0's first cases have lesions"
    for original in originals:
        twin = twins.get(original["case_id"])
        if twin is None:
            continue
        assert twin["patient_id"] == original["patient_id"] and not twin["has_tumor"] and not twin["tumors"]
        label = np.asarray(nib.load(tmp_path / original["label"]).dataobj)
        twin_label = np.asarray(nib.load(tmp_path / twin["label"]).dataobj)
        assert np.array_equal(label > 0, twin_label > 0)  # the same liver, lesions included
        assert (label == 2).any() and not (twin_label == 2).any()
        image = np.asarray(nib.load(tmp_path / original["image"]).dataobj).astype(float)
        twin_image = np.asarray(nib.load(tmp_path / twin["image"]).dataobj).astype(float)
        difference = np.abs(image - twin_image)
        # outside the lesions only the noise draw differs; inside them the lesion itself
        assert difference[label == 2].mean() > 2 * difference[label == 1].mean()


def test_twins_keep_the_originals_unchanged(tmp_path):
    plain = write_phantom_dataset(tmp_path / "a", cases=2, seed=0, shape=(32, 32, 16))
    with_twins = write_phantom_dataset(tmp_path / "b", cases=2, seed=0, shape=(32, 32, 16), twins=True)
    first = json.loads(plain.read_text(encoding="utf-8"))["training"][0]
    assert json.loads(with_twins.read_text(encoding="utf-8"))["training"][0] == first
    a = np.asarray(nib.load(tmp_path / "a" / first["image"]).dataobj)
    b = np.asarray(nib.load(tmp_path / "b" / first["image"]).dataobj)
    assert np.array_equal(a, b)


def test_cli_writes_twins_when_asked(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--cases", "2", "--seed", "0", "--shape", "32", "32", "16"]
    assert phantoms_main([*args, "--lesion-free-twins"]) == 0
    entries = json.loads((tmp_path / "dataset.json").read_text(encoding="utf-8"))["training"]
    n_twins = sum("twin_of" in e for e in entries)
    assert n_twins >= 1 and len(entries) == 2 + n_twins
    assert f"({n_twins} lesion-free twins among them)" in capsys.readouterr().out


def test_cli_writes_dataset(tmp_path, capsys):
    assert (
        phantoms_main(["--out", str(tmp_path), "--cases", "2", "--seed", "0", "--shape", "32", "32", "16"])
        == 0
    )
    assert (tmp_path / "dataset.json").is_file()
    assert len(list((tmp_path / "imagesTr").glob("*.nii.gz"))) == 2
    assert "wrote 2 cases" in capsys.readouterr().out
    assert not list(tmp_path.rglob(".*.nii.gz"))  # no temporary files left behind
    assert not (tmp_path / "montage_phases.png").exists()


def test_cli_passes_phase_scan_range_and_tissues(tmp_path):
    args = ["--out", str(tmp_path), "--cases", "1", "--matrix", "48", "--phase", "portal_venous"]
    assert phantoms_main([*args, "--scan-range", "slab", "--tissues"]) == 0
    entry = json.loads((tmp_path / "dataset.json").read_text(encoding="utf-8"))["training"][0]
    assert entry["phase"] == "portal_venous" and entry["scan_range"] == "slab"
    assert nib.load(tmp_path / entry["image"]).shape[:2] == (48, 48)
    assert (tmp_path / entry["tissue"]).is_file()


def test_cli_montage_writes_a_png_per_phase(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--cases", "1", "--matrix", "64", "--montage"]
    assert phantoms_main(args) == 0
    png = tmp_path / "montage_phases.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    assert "montage_phases.png" in capsys.readouterr().out


def test_cli_rejects_tiny_shapes_and_matrices(tmp_path):
    with pytest.raises(SystemExit):
        phantoms_main(["--out", str(tmp_path), "--shape", "4", "4", "4"])
    with pytest.raises(SystemExit):
        phantoms_main(["--out", str(tmp_path), "--matrix", "16"])
    with pytest.raises(SystemExit):
        phantoms_main(["--out", str(tmp_path), "--phase", "venous"])
