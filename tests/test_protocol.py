"""The wire protocol has one definition (annotator/messages.py); the browser's types are generated from it."""

from __future__ import annotations

import typing

import pytest
from pydantic import TypeAdapter

from annotator import messages
from scripts.protocol import TARGET, generate


def test_the_committed_typescript_types_are_generated_from_the_current_schemas(tmp_path):
    out = tmp_path / "protocol.ts"
    generate(out)
    assert out.read_text() == TARGET.read_text(), (
        "frontend/src/protocol.ts is stale: run `make protocol` and commit the result"
    )


def server_message_models() -> set[type]:
    union = typing.get_args(messages.ServerMessage.__value__)[0]
    return set(typing.get_args(union))


def test_every_server_message_is_in_the_union_the_browser_gets():
    assert server_message_models() == set(messages.ServerMessageBase.__subclasses__())


def test_every_client_message_is_routed_by_its_own_type():
    for name, model in messages.CLIENT_MESSAGES.items():
        assert model.model_fields["type"].default == name


@pytest.mark.parametrize(
    "wire",
    [
        {"type": "hello", "user": "anna", "user_id": 3, "socket_id": "specific..abc"},
        {"type": "error", "request_id": None, "code": "not_found", "message": "No such series."},
        {
            "type": "prompt.result",
            "request_id": "p1",
            "series_id": 1,
            "slice_index": 2,
            "plane": "coronal",
            "masks": [{"rle": {"size": [2, 2], "counts": [1, 3]}, "iou": 0.91}],
            "model": "lite_medsam@79d8c9dca6db",
            "embedding_computed": False,
            "timings": {"decode_ms": 20.5, "total_ms": 31.0},
        },
    ],
)
def test_a_server_message_survives_the_round_trip_through_its_schema(wire):
    parsed = TypeAdapter(messages.ServerMessage).validate_python(wire)
    assert parsed.model_dump(mode="json") == wire
