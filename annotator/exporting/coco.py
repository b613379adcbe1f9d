"""COCO JSON with run-length encoded masks, compatible with pycocotools.

RLE as the COCO API defines it (``maskApi.c``): the mask is read in column-major (Fortran) order, counts
alternate runs of 0s and 1s starting with 0s, and the compressed string form stores each count, minus the
count two places before it from the third on, in 5-bit groups with a continuation bit, each + 48 as ASCII.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from annotator.exporting.common import LabelInfo


def rle_counts(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO counts of a (H, W) boolean mask."""
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def counts_to_string(counts: list[int]) -> str:
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift, as the C code's on a signed long
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def string_to_counts(text: str) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode(mask: np.ndarray) -> dict:
    """``{"size": [h, w], "counts": str}``, what ``pycocotools.mask.encode`` returns (counts decoded)."""
    height, width = mask.shape
    return {"size": [int(height), int(width)], "counts": counts_to_string(rle_counts(mask))}


def decode(rle: dict) -> np.ndarray:
    """A (H, W) boolean mask from a compressed (string) or uncompressed (list) COCO RLE."""
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    counts = string_to_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
    if sum(counts) != height * width or any(c < 0 for c in counts):
        raise ValueError(f"RLE counts cover {sum(counts)} pixels, the mask has {height * width}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape((height, width), order="F")


def bbox(mask: np.ndarray) -> list[float]:
    """COCO box [x, y, width, height] in pixels of a non-empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1)]


@dataclass
class CocoDataset:
    """A COCO "instances" document built image by image: one image per slice of each exported series."""

    description: str
    categories: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)

    def set_labels(self, labels: list[LabelInfo]) -> None:
        self.categories = [
            {"id": lab.value, "name": lab.name, "supercategory": "label", "color": lab.color}
            for lab in labels
        ]

    def add_image(self, *, file_name: str, height: int, width: int, series_id: int, slice_index: int) -> int:
        image_id = len(self.images) + 1
        self.images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "height": int(height),
                "width": int(width),
                "series_id": series_id,
                "slice_index": slice_index,
            }
        )
        return image_id

    def add_mask(self, image_id: int, label: LabelInfo, annotator: str, mask: np.ndarray) -> None:
        if not mask.any():
            return
        self.annotations.append(
            {
                "id": len(self.annotations) + 1,
                "image_id": image_id,
                "category_id": label.value,
                "segmentation": encode(mask),
                "area": float(np.count_nonzero(mask)),
                "bbox": bbox(mask),
                "iscrowd": 0,
                "annotator": annotator,
            }
        )

    def as_json(self) -> dict:
        return {
            "info": {
                "description": self.description,
                "version": "1.0",
                "date_created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
            "licenses": [],
            "images": self.images,
            "annotations": self.annotations,
            "categories": self.categories,
        }
