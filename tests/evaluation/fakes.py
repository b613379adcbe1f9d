"""A predictor with the ``SamPredictor`` contract whose answers a test can work out by hand.

The box prompt gives the filled box (inclusive pixel indices). With ``mask_input`` the previous mask is the
starting point instead. Every point then paints a ``(2r+1)²`` square: foreground for label 1, background for
label 0. ``stubborn=True`` ignores points and mask input (a model that never improves). Low-res logits carry
the mask by nearest-neighbour sampling, exact for image sizes that divide 256. ``box_mask`` replaces the
box prompt's answer; ``ious`` scripts the predicted IoU of each decode in turn (then 1.0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LOW_RES = 256


@dataclass
class FakeDecodeResult:
    masks: np.ndarray
    iou: np.ndarray
    low_res_logits: np.ndarray


@dataclass
class FakePredictor:
    radius: int = 2
    stubborn: bool = False
    embed_calls: int = 0
    decode_calls: list[dict] = field(default_factory=list)
    outputs: list[FakeDecodeResult] = field(default_factory=list)
    box_mask: np.ndarray | None = None
    ious: list[float] = field(default_factory=list)

    def describe(self) -> dict:
        return {"name": "fake", "backend": "numpy"}

    def embed(self, image: np.ndarray) -> np.ndarray:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        self.embed_calls += 1
        return np.zeros((256, 64, 64), np.float32)

    def decode(
        self,
        embedding,
        image_size,
        boxes=None,
        points=None,
        point_labels=None,
        mask_input=None,
        multimask=False,
    ) -> FakeDecodeResult:
        assert embedding.shape == (256, 64, 64)
        self.decode_calls.append(
            {"boxes": boxes, "points": points, "point_labels": point_labels, "mask_input": mask_input}
        )
        h, w = image_size
        rows = np.arange(h) * LOW_RES // h
        cols = np.arange(w) * LOW_RES // w
        if mask_input is not None and not self.stubborn:
            mask = mask_input[0, 0][np.ix_(rows, cols)] > 0
        elif self.box_mask is not None:
            mask = self.box_mask.copy()
        else:
            x0, y0, x1, y1 = (int(v) for v in np.asarray(boxes)[0])
            mask = np.zeros((h, w), bool)
            mask[y0 : y1 + 1, x0 : x1 + 1] = True
        if points is not None and not self.stubborn:
            r = self.radius
            for (x, y), label in zip(np.asarray(points)[0], np.asarray(point_labels)[0], strict=True):
                x, y = int(x), int(y)
                mask[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1] = bool(label)
        low = np.where(
            mask[np.ix_(np.arange(LOW_RES) * h // LOW_RES, np.arange(LOW_RES) * w // LOW_RES)], 10.0, -10.0
        ).astype(np.float32)
        iou = self.ious.pop(0) if self.ious else 1.0
        result = FakeDecodeResult(mask[None, None], np.full((1, 1), iou, np.float32), low[None, None])
        self.outputs.append(result)
        return result
