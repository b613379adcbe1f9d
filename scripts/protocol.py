"""``make protocol``: write ``frontend/src/protocol.ts`` from the pydantic models of ``annotator/messages.py``.

Python dumps one JSON Schema holding every client and server message; ``frontend/scripts/protocol.mjs``
turns it into TypeScript with ``json-schema-to-typescript``. ``tests/test_protocol.py`` regenerates the file
and fails when the committed one differs.

    python -m scripts.protocol [OUT]        (default: frontend/src/protocol.ts)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from annotator.messages import ClientMessage, ServerMessage

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
TARGET = FRONTEND / "src" / "protocol.ts"
CONVERTER = FRONTEND / "scripts" / "protocol.mjs"


class _Protocol(BaseModel):
    client: ClientMessage
    server: ServerMessage


# Keywords pydantic writes that TypeScript has no use for (defaults, per-field titles, discriminator hints).
_DROPPED = ("default", "discriminator")


def _clean(node: Any, *, keep_title: bool = False) -> Any:
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "title" and not keep_title):
            continue
        if key == "$defs":
            out[key] = {name: _clean(schema, keep_title=True) for name, schema in value.items()}
        elif key == "properties":
            out[key] = {name: _clean(schema) for name, schema in value.items()}
        elif key == "prefixItems":  # JSON Schema 2020-12 tuples, in the draft-07 form the converter reads
            out["items"] = _clean(value)
        else:
            out[key] = _clean(value)
    return out


def protocol_schema() -> dict[str, Any]:
    """One schema whose root is any message in either direction; every message is a named definition."""
    schema = _clean(_Protocol.model_json_schema(), keep_title=True)
    defs = schema["$defs"]
    return {
        "title": "Message",
        "description": "Any message on the socket, in either direction.",
        "anyOf": [{"$ref": "#/$defs/ClientMessage"}, {"$ref": "#/$defs/ServerMessage"}],
        "$defs": {
            **defs,
            "ClientMessage": {**defs["ClientMessage"], "title": "ClientMessage"},
            "ServerMessage": {**defs["ServerMessage"], "title": "ServerMessage"},
        },
    }


def generate(out: Path) -> None:
    """Write the TypeScript module to ``out`` (needs Node.js and ``frontend/node_modules``)."""
    subprocess.run(
        ["node", str(CONVERTER), str(out.resolve())],
        input=json.dumps(protocol_schema(), indent=2),
        text=True,
        check=True,
        cwd=FRONTEND,
    )


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)
