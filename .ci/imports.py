"""Each workspace package on its own: synced alone (from the lock) into a throwaway environment,
then every module of it imported there. A module importing what its package does not declare
fails here, though the workspace's shared environment, which holds everything, would hide it.

    python3 .ci/imports.py        (`make imports`; the uv command comes from $UV, default `uv`)
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run by the package's own interpreter: imports every module named on the command line, reports each failure.
_IMPORT_ALL = """
import importlib, sys
failed = 0
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
    except Exception as error:
        failed += 1
        print(f"  cannot import {module}: {type(error).__name__}: {error}")
sys.exit(1 if failed else 0)
"""


def members() -> Iterator[Path]:
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    for pattern in workspace["members"]:
        yield from sorted(path for path in ROOT.glob(pattern) if (path / "pyproject.toml").is_file())


def modules(member: Path) -> list[str]:
    src = member / "src"
    names = []
    for file in sorted(src.rglob("*.py")):
        parts = file.relative_to(src).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def check(member: Path, uv: list[str], environments: Path) -> bool:
    name = tomllib.loads((member / "pyproject.toml").read_text())["project"]["name"]
    environment = environments / name
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"UV_PROJECT_ENVIRONMENT": str(environment)}
    synced = subprocess.run(
        [*uv, "sync", "--frozen", "--quiet", "--no-dev", "--package", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if synced.returncode != 0:
        print(f"{name}: uv sync failed\n{synced.stderr}")
        return False
    names = modules(member)
    # From a folder of its own, so nothing of the work tree is importable but what the package installed.
    imported = subprocess.run(
        [environment / "bin" / "python", "-c", _IMPORT_ALL, *names], cwd=environments, env=env, text=True
    )
    print(f"{name}: {len(names)} modules {'imported' if imported.returncode == 0 else 'NOT all imported'}")
    return imported.returncode == 0


def main() -> None:
    uv = shlex.split(os.environ.get("UV", "uv"))
    with tempfile.TemporaryDirectory(prefix="gandan-imports-") as environments:
        results = [check(member, uv, Path(environments)) for member in members()]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
