"""Dataset folders: pairing, orientation, spacing, cases per label and slice, preprocessing."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import nrrd
import numpy as np
import pytest
from PIL import Image

from ml_worker.evaluation.dataset import (
    DatasetError,
    find_pairs,
    iter_cases,
    load_volume,
    model_intensities,
    slice_2d,
)

# Canonical (Z, Y, X) = towards Superior, Posterior, Left; anisotropic so a swapped axis shows.
SPACING = (3.0, 0.5, 0.8)


def canonical_volume(shape=(6, 8, 10), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 1000, size=shape).astype(np.int16)


def write_nifti_ras(path: Path, canonical: np.ndarray, spacing=SPACING) -> None:
    """Store a canonical LPS (Z, Y, X) array the way NIfTI files usually are: (i, j, k) towards R, A, S."""
    sz, sy, sx = spacing
    ras = np.ascontiguousarray(canonical.transpose(2, 1, 0)[::-1, ::-1, :])
    nib.save(nib.Nifti1Image(ras, np.diag([sx, sy, sz, 1.0])), str(path))


def write_nrrd_lps(path: Path, canonical: np.ndarray, spacing=SPACING, flip_y: bool = False) -> None:
    """NRRD in LPS space with (i, j, k) towards L, P, S, or towards L, A, S with ``flip_y`` (as pyradiomics')."""
    sz, sy, sx = spacing
    data = canonical.transpose(2, 1, 0)
    directions = np.diag([sx, sy, sz])
    if flip_y:
        data = data[:, ::-1, :]
        directions[1, 1] = -sy
    header = {"space": "left-posterior-superior", "space directions": directions, "space origin": np.zeros(3)}
    nrrd.write(str(path), np.ascontiguousarray(data), header)


def make_dataset(root: Path) -> tuple[Path, Path]:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    return root / "images", root / "labels"


@pytest.mark.parametrize(
    "writer, name",
    [
        (write_nifti_ras, "v.nii.gz"),
        (write_nrrd_lps, "v.nrrd"),
        (lambda p, c: write_nrrd_lps(p, c, flip_y=True), "v.nrrd"),
    ],
)
def test_volumes_are_read_into_the_canonical_orientation_with_their_spacing(tmp_path, writer, name):
    canonical = canonical_volume()
    writer(tmp_path / name, canonical)
    volume = load_volume(tmp_path / name)
    assert np.array_equal(volume.data, canonical)
    assert volume.spacing == pytest.approx(SPACING)


def test_slices_are_shown_radiologically_with_superior_at_the_top():
    volume = np.zeros((4, 5, 6), np.int16)
    volume[3, 1, 2] = 1  # the most superior slice, row y=1, column x=2
    assert slice_2d(volume, "axial", 3)[1, 2] == 1
    assert slice_2d(volume, "coronal", 1)[0, 2] == 1  # superior → row 0
    assert slice_2d(volume, "sagittal", 2)[0, 1] == 1


def labelled_volume() -> np.ndarray:
    labels = np.zeros((6, 8, 10), np.uint8)
    labels[2, 1:7, 1:6] = 1  # 30 px on axial slice 2
    labels[3, 0:2, 0:5] = 1  # 10 px on slice 3: under min_area
    labels[3, 3:8, 5:10] = 2  # 25 px on slice 3
    return labels


def test_each_label_on_each_slice_with_enough_pixels_is_one_case(tmp_path):
    images, labels = make_dataset(tmp_path)
    write_nifti_ras(images / "a.nii.gz", canonical_volume())
    write_nifti_ras(labels / "a.nii.gz", labelled_volume())
    cases = list(iter_cases(tmp_path, min_area=20))
    assert [c.case_id for c in cases] == ["a.nii.gz:axial:2:label1", "a.nii.gz:axial:3:label2"]
    assert [int(c.reference.sum()) for c in cases] == [30, 25]
    assert cases[0].spacing == pytest.approx((0.5, 0.8))  # (row, col) = (y, x) on axial slices
    assert cases[0].image.dtype == np.uint8 and cases[0].image.shape == (8, 10)
    only_two = list(iter_cases(tmp_path, labels=(2,), min_area=20))
    assert [c.case_id for c in only_two] == ["a.nii.gz:axial:3:label2"]
    small = list(iter_cases(tmp_path, min_area=5))
    assert [c.case_id for c in small] == [
        "a.nii.gz:axial:2:label1",
        "a.nii.gz:axial:3:label1",
        "a.nii.gz:axial:3:label2",
    ]
    assert small[1].image_key == small[2].image_key  # two labels on one slice share its image


def test_coronal_cases_have_the_slice_thickness_as_row_spacing(tmp_path):
    images, labels = make_dataset(tmp_path)
    write_nrrd_lps(images / "a.nrrd", canonical_volume())
    write_nrrd_lps(labels / "a.nrrd", labelled_volume())
    cases = list(iter_cases(tmp_path, axis="coronal", min_area=5))
    assert {c.slice_index for c in cases if c.label == 2} == {3, 4, 5, 6, 7}
    assert all(c.spacing == pytest.approx((3.0, 0.8)) for c in cases)
    assert all(c.reference.shape == (6, 10) for c in cases)


def test_coronal_cases_can_be_resampled_to_square_pixels_as_the_app_shows_them(tmp_path):
    images, labels = make_dataset(tmp_path)
    write_nrrd_lps(images / "a.nrrd", canonical_volume())
    write_nrrd_lps(labels / "a.nrrd", labelled_volume())
    stored = list(iter_cases(tmp_path, axis="coronal", min_area=5))
    square = list(iter_cases(tmp_path, axis="coronal", min_area=5, square_pixels=True))
    # The same cases (slices chosen by voxel area); 6 rows of 3 mm and 10 columns of 0.8 mm → 0.8 mm pixels.
    assert [c.case_id for c in square] == [c.case_id for c in stored]
    assert all(c.spacing == pytest.approx((0.8, 0.8)) for c in square)
    assert all(c.reference.shape == c.image.shape == (22, 10) for c in square)
    assert all(c.preprocessing.endswith("+square-pixels") for c in square)
    for a, b in zip(stored, square, strict=True):  # each voxel row becomes about 3.75 display rows
        assert b.reference.sum() == pytest.approx(a.reference.sum() * 22 / 6, rel=0.25)
    axial = list(iter_cases(tmp_path, axis="axial", min_area=5, square_pixels=True))
    assert all(c.reference.shape == (8, 10) for c in axial)  # the axial plane is never resampled


def test_ct_is_windowed_and_other_modalities_are_percentile_scaled():
    ct = np.array([[-1000.0, -160.0], [0.0, 240.0]])
    scaled, how = model_intensities(ct)
    assert how == "ct-window:soft_tissue"
    assert scaled.tolist() == [[0, 0], [102, 255]]  # soft tissue 40/400: −160 → 0, 0 → 160/400·255, 240 → 255
    mr = np.linspace(0, 1000, 1001)
    scaled, how = model_intensities(mr)
    assert how == "percentile-0.5-99.5" and scaled[0] == 0 and scaled[-1] == 255
    scaled, how = model_intensities(np.array([[0.0, 240.0], [500.0, 1000.0]]), modality="ct")
    assert how == "ct-window:soft_tissue" and scaled.tolist() == [[102, 255], [255, 255]]
    _, how = model_intensities(ct, modality="auto", window="lung")
    assert how == "ct-window:lung"


def test_a_ct_volume_is_windowed_as_a_whole(tmp_path):
    images, labels = make_dataset(tmp_path)
    ct = np.full((6, 8, 10), -1000, np.int16)
    ct[2] = 0
    write_nifti_ras(images / "ct.nii.gz", ct)
    write_nifti_ras(labels / "ct.nii.gz", labelled_volume())
    (case,) = iter_cases(tmp_path, labels=(1,), min_area=20)
    assert case.preprocessing == "ct-window:soft_tissue"
    assert (case.image == 102).all()


def png(path: Path, array: np.ndarray, mode: str | None = None) -> None:
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)


def test_2d_images_give_one_case_per_label_in_pixels(tmp_path):
    images, labels = make_dataset(tmp_path)
    png(images / "cells.png", np.random.default_rng(0).integers(0, 255, (32, 48), dtype=np.uint8))
    label_map = np.zeros((32, 48), np.uint8)
    label_map[2:8, 2:8] = 3  # 36 px
    label_map[20:23, 30:33] = 7  # 9 px
    png(labels / "cells.png", label_map)
    cases = list(iter_cases(tmp_path, min_area=5))
    assert [c.case_id for c in cases] == ["cells.png:label3", "cells.png:label7"]
    assert all(
        c.spacing == (1.0, 1.0) and c.preprocessing == "uint8" and c.slice_index is None for c in cases
    )
    assert [c.case_id for c in iter_cases(tmp_path, min_area=20)] == ["cells.png:label3"]


def test_a_palette_label_image_gives_its_palette_indices(tmp_path):
    images, labels = make_dataset(tmp_path)
    png(images / "x.png", np.zeros((16, 16, 3), np.uint8))
    label_map = np.zeros((16, 16), np.uint8)
    label_map[4:12, 4:12] = 2
    img = Image.fromarray(label_map, mode="L").convert("P")
    img.save(labels / "x.png")
    (case,) = iter_cases(tmp_path)
    assert case.label == 2 and case.reference.sum() == 64 and case.image.shape == (16, 16, 3)


def test_a_colour_label_image_is_refused(tmp_path):
    images, labels = make_dataset(tmp_path)
    png(images / "x.png", np.zeros((16, 16), np.uint8))
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[2:10, 2:10] = (255, 0, 0)
    png(labels / "x.png", colour)
    with pytest.raises(DatasetError, match="single-channel"):
        list(iter_cases(tmp_path))


def test_files_without_a_partner_are_named(tmp_path):
    images, labels = make_dataset(tmp_path)
    png(images / "a.png", np.zeros((8, 8), np.uint8))
    png(images / "b.png", np.zeros((8, 8), np.uint8))
    png(labels / "a.png", np.zeros((8, 8), np.uint8))
    png(labels / "c.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DatasetError, match=r"without a label file: b\.png.*without an image: c\.png"):
        find_pairs(tmp_path)


def test_a_folder_without_labels_is_refused(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match="labels"):
        find_pairs(tmp_path)


def test_an_image_and_label_map_on_different_grids_are_refused(tmp_path):
    images, labels = make_dataset(tmp_path)
    write_nifti_ras(images / "a.nii.gz", canonical_volume())
    write_nifti_ras(labels / "a.nii.gz", labelled_volume(), spacing=(3.0, 0.5, 0.9))
    with pytest.raises(DatasetError, match="same grid"):
        list(iter_cases(tmp_path))


def test_a_label_map_with_fractions_is_refused(tmp_path):
    images, labels = make_dataset(tmp_path)
    write_nifti_ras(images / "a.nii.gz", canonical_volume())
    write_nifti_ras(labels / "a.nii.gz", labelled_volume().astype(np.float32) * 0.5)
    with pytest.raises(DatasetError, match="integers"):
        list(iter_cases(tmp_path))
