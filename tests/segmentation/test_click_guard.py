"""Corrective points with a model not trained on clicks (ml_worker/click_guard.py, annotator.inference): a
point far from the mask being corrected, or one that makes the model rate its mask lower, is refused and the
mask being corrected stays; a click-trained model is not guarded."""

from __future__ import annotations

import numpy as np
import pytest

from annotator import inference, rle
from annotator.messages import PromptRefused, PromptResult
from annotator.scheduling import redis_client
from annotator.segmentation import latest_key
from ml_worker import click_guard
from ml_worker.sam.predictor import DecodeResult
from tests.segmentation.conftest import make_series
from tests.segmentation.test_inference import (
    CountingPredictor,
    box_of,
    dice,
    lung_ct,  # noqa: F401 - a fixture
    new_channel,
    receive,
    request_for,
    slice_embeddings,
)

# -- the rule itself --------------------------------------------------------------------------------------


def test_the_correction_region_is_the_mask_box_grown_by_a_quarter_of_its_side_or_the_minimum():
    mask = np.zeros((200, 300), bool)
    mask[50:90, 100:180] = True  # 80 px wide, 40 px high
    assert click_guard.correction_region(mask) == click_guard.Region(80, 30, 199, 109)
    small = np.zeros((200, 300), bool)
    small[10:14, 5:9] = True  # 4 px: the 12-px minimum, clipped at the image's edge
    assert click_guard.correction_region(small) == click_guard.Region(0, 0, 20, 25)
    assert click_guard.correction_region(np.zeros((8, 8), bool)) is None


def test_a_point_is_inside_the_region_up_to_the_far_edge_of_its_last_pixel():
    region = click_guard.Region(10, 20, 30, 40)
    assert region.contains(10, 20) and region.contains(31, 41) and region.contains(20.5, 30)
    assert not region.contains(9.9, 30) and not region.contains(20, 41.5)


def test_a_corrected_mask_is_kept_unless_its_predicted_iou_drops():
    assert click_guard.keeps_quality(0.85, 0.86)
    assert click_guard.keeps_quality(0.85, 0.85004)  # equal as the browser shows it
    assert not click_guard.keeps_quality(0.85, 0.8499)


# -- on the worker, with a scripted model -----------------------------------------------------------------


class ScriptedPredictor(CountingPredictor):
    """Answers each decode with the next (mask, iou) of a script and records what it was asked."""

    model_version = "scripted@000000000000"

    def __init__(self, answers: list[tuple[np.ndarray, float]], clicks_trained: bool = False) -> None:
        super().__init__()
        self.answers, self.clicks_trained = list(answers), clicks_trained
        self.decodes: list[dict] = []

    def decode(
        self, embedding, image_size, boxes=None, points=None, point_labels=None, mask_input=None, **kw
    ):
        mask, iou = self.answers.pop(0)
        self.decodes.append({"points": points, "mask_input": mask_input})
        logits = np.full((1, 1, 256, 256), float(len(self.decodes)), np.float32)
        return DecodeResult(masks=mask[None, None], iou=np.array([[iou]], np.float32), low_res_logits=logits)


def square(top: int, left: int, size: int, shape=(64, 64)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, left : left + size] = True
    return mask


@pytest.fixture
def scripted(personas, redis_url, tmp_path, monkeypatch):
    series = make_series(personas.project, np.zeros((2, 64, 64), np.int16))

    def use(answers: list[tuple[np.ndarray, float]], clicks_trained: bool = False) -> ScriptedPredictor:
        predictor = ScriptedPredictor(answers, clicks_trained)
        embeddings = slice_embeddings(predictor, tmp_path, memory_bytes=64 * 1024 * 1024)
        monkeypatch.setattr(inference, "embeddings", lambda: embeddings)
        return predictor

    inference._series_cache.clear()
    yield series, use
    inference._series_cache.clear()  # series ids repeat across tests (rolled back): forget the rows


def ask(personas, series, request_id: str, channel: str, **prompt):
    request = request_for(
        series, personas.annotator, 0, prompt.pop("box", None), request_id, reply_channel=channel, **prompt
    )
    redis_client().set(latest_key(personas.annotator.id, series.id), request_id)
    sent = inference.decode_prompt(request)
    assert receive(channel) == sent.model_dump(mode="json")
    return sent


def refine(personas, series, request_id, channel, points, labels):
    return ask(
        personas,
        series,
        request_id,
        channel,
        box=[20, 20, 40, 40],
        points=points,
        point_labels=labels,
        mask_input="previous",
    )


def test_a_point_far_from_the_mask_is_refused_without_decoding_and_the_mask_is_kept(personas, scripted):
    series, use = scripted
    predictor = use([(square(20, 20, 20), 0.9), (square(20, 20, 24), 0.95)])
    channel = new_channel()
    first = ask(personas, series, "r1", channel, box=[20, 20, 40, 40])
    assert isinstance(first, PromptResult)
    # The 20-px mask's region reaches 12 px beyond it (x, y 8..51): a point at (60, 60) is elsewhere.
    refused = refine(personas, series, "r2", channel, [[60, 60]], [1])
    assert isinstance(refused, PromptRefused) and refused.reason == "outside_region"
    assert refused.region == [8, 8, 51, 51] and refused.previous_iou == pytest.approx(0.9)
    assert "near it" in refused.message
    assert len(predictor.decodes) == 1
    # The next point, inside, refines the first mask (its logits are the mask input) and is applied.
    applied = refine(personas, series, "r3", channel, [[45, 30]], [1])
    assert isinstance(applied, PromptResult) and applied.masks[0].iou == pytest.approx(0.95)
    assert float(predictor.decodes[1]["mask_input"].max()) == 1.0  # the first decode's logits


def test_a_point_that_lowers_the_predicted_iou_is_refused_and_the_next_starts_from_the_kept_mask(
    personas, scripted
):
    series, use = scripted
    predictor = use([(square(20, 20, 20), 0.9), (square(10, 10, 40), 0.7), (square(20, 20, 21), 0.91)])
    channel = new_channel()
    ask(personas, series, "r1", channel, box=[20, 20, 40, 40])
    refused = refine(personas, series, "r2", channel, [[30, 30]], [0])
    assert isinstance(refused, PromptRefused) and refused.reason == "iou_dropped"
    assert refused.iou == pytest.approx(0.7) and refused.previous_iou == pytest.approx(0.9)
    assert "rated the corrected mask lower" in refused.message
    # The refused decode's logits were not kept: the next point refines the first mask again.
    applied = refine(personas, series, "r3", channel, [[41, 30]], [1])
    assert isinstance(applied, PromptResult)
    assert float(predictor.decodes[2]["mask_input"].max()) == 1.0


def test_a_model_trained_on_clicks_is_not_guarded(personas, scripted):
    series, use = scripted
    use([(square(20, 20, 20), 0.9), (square(40, 40, 20), 0.6)], clicks_trained=True)
    channel = new_channel()
    ask(personas, series, "r1", channel, box=[20, 20, 40, 40])
    result = refine(personas, series, "r2", channel, [[60, 60]], [1])
    assert isinstance(result, PromptResult) and result.masks[0].iou == pytest.approx(0.6)


def test_a_first_point_without_a_mask_to_correct_is_decoded_as_it_is(personas, scripted):
    series, use = scripted
    use([(square(40, 40, 10), 0.5)])
    channel = new_channel()
    result = ask(personas, series, "r1", channel, points=[[45, 45]], point_labels=[1])
    assert isinstance(result, PromptResult)


def test_the_refusal_goes_only_to_the_latest_prompt(personas, scripted):
    series, use = scripted
    use([(square(20, 20, 20), 0.9)])
    channel = new_channel()
    ask(personas, series, "r1", channel, box=[20, 20, 40, 40])
    redis_client().set(latest_key(personas.annotator.id, series.id), "newer")
    request = request_for(
        series,
        personas.annotator,
        0,
        [20, 20, 40, 40],
        "r2",
        reply_channel=channel,
        points=[[60, 60]],
        point_labels=[1],
        mask_input="previous",
    )
    assert inference.decode_prompt(request) is None


# -- with LiteMedSAM on a real CT slice -------------------------------------------------------------------


@pytest.mark.slow
def test_litemedsam_points_never_leave_a_mask_rated_lower_than_the_box_mask(personas, lung_ct):  # noqa: F811
    series, reference, z = lung_ct
    assert inference.embeddings().predictor.clicks_trained is False
    channel = new_channel()

    def send(request_id: str, **extra):
        request = request_for(
            series, personas.annotator, z, box_of(reference[z]), request_id, reply_channel=channel, **extra
        )
        redis_client().set(latest_key(personas.annotator.id, series.id), request_id)
        sent = inference.decode_prompt(request)
        assert receive(channel) == sent.model_dump(mode="json")
        return sent

    box = send("r0")
    box_mask, box_iou = rle.decode(box.masks[0].rle), box.masks[0].iou
    assert dice(box_mask, reference[z]) > 0.75
    far = send("r1", points=[[5, 5]], point_labels=[0], mask_input="previous")
    assert isinstance(far, PromptRefused) and far.reason == "outside_region"
    # Corrective clicks inside the region: each either keeps the model's rating or is refused.
    ys, xs = np.nonzero(box_mask)
    points, labels, current_iou = [], [], box_iou
    for k, (x, y, label) in enumerate(
        [(int(xs.mean()), int(ys.mean()), 0), (int(xs.max()), int(ys.mean()), 1)]
    ):
        answer = send(
            f"r{k + 2}", points=[*points, [x, y]], point_labels=[*labels, label], mask_input="previous"
        )
        if isinstance(answer, PromptResult):
            assert answer.masks[0].iou >= current_iou
            points, labels, current_iou = [*points, [x, y]], [*labels, label], answer.masks[0].iou
        else:
            assert answer.reason == "iou_dropped" and answer.iou < current_iou


# -- what the browser is told ------------------------------------------------------------------------------


def test_the_project_payload_names_the_serving_model_and_whether_points_are_guarded(personas, settings):
    client = personas.client_for("annotator")
    project = client.get(f"/api/projects/{personas.project.id}/").json()
    assert project["model"] == {"name": "lite_medsam", "clicks_trained": False}
    settings.DEFAULT_MODEL = "sam_vit_b"  # SAM itself was trained with clicks
    project = client.get(f"/api/projects/{personas.project.id}/").json()
    assert project["model"] == {"name": "sam_vit_b", "clicks_trained": True}


def test_a_registered_checkpoint_records_whether_it_follows_clicks(tmp_path):
    from ml_worker.sam.build import registered_clicks_trained

    registry = tmp_path / "checkpoints.json"
    registry.write_text('{"medsam_vit_b": {"path": "/x", "sha256": "0", "clicks_trained": true}}')
    assert registered_clicks_trained("medsam_vit_b", registry_file=registry) is True
    assert registered_clicks_trained("sam_vit_b", registry_file=registry) is True  # the spec's own
    registry.write_text('{"medsam_vit_b": {"path": "/x", "sha256": "0"}}')
    assert registered_clicks_trained("medsam_vit_b", registry_file=registry) is False
    assert registered_clicks_trained("lite_medsam", registry_file=registry) is False
