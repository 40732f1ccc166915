"""The public contract: each service's AsyncAPI document, as FastStream generates it.

`python -m gandan.system.contract DIR` writes DIR/<service>.json; a test checks the
committed files are current, so a change to an event shows up in review.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from unittest.mock import patch

from gandan.system import services as system

# The document describes shapes, not a deployment: build the services with neutral settings.
_NEUTRAL = {
    "RABBITMQ_URL": "amqp://guest:guest@rabbitmq:5672/",
    "MONGODB_URL": "mongodb://mongodb:27017/",
    "GANDAN_NAMESPACE": "gandan",
    "GANDAN_AUTH_SECRET": "x" * 32,
    "INTAKE_PSEUDONYM_KEY": "x" * 32,
    "INTAKE_CCCD_KEY": "x" * 32,
}


def documents() -> dict[str, str]:
    result = {}
    with patch.dict(os.environ, _NEUTRAL):
        for name in system.names():
            service, _ = importlib.import_module(f"gandan.{name}.app").build()
            result[name] = json.dumps(service.asyncapi(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return result


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/asyncapi")
    target.mkdir(parents=True, exist_ok=True)
    for name, document in documents().items():
        (target / f"{name}.json").write_text(document)
        print(target / f"{name}.json")


if __name__ == "__main__":
    main()
