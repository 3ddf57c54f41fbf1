"""Regenerate the Python code for the wire contract.

Run ``python proto/generate.py`` from the repository root after editing a
``.proto`` file. It uses grpcio-tools' bundled protoc (matched to the protobuf
runtime) and mypy-protobuf for typed stubs, and writes into
``producer/runstream/wire/``. ``tests/proto/test_generated_code.py`` fails when
the committed code is stale.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
TARGET_DIR = ROOT / "producer" / "runstream" / "wire"
PROTO_FILES = ["runstream/v1/events.proto"]


def _plugin(name: str) -> str:
    """The plugin installed beside this interpreter (a venv need not be on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install the 'dev' extra (mypy-protobuf)")
    return found


def generate(target_dir: Path = TARGET_DIR) -> list[Path]:
    """Compile every schema into ``target_dir``; returns the files written."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTO_DIR}",
                f"--python_out={tmp}",
                f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
                f"--mypy_out={tmp}",
                *PROTO_FILES,
            ],
            check=True,
            cwd=PROTO_DIR,
        )
        for proto in PROTO_FILES:
            stem = Path(proto).with_suffix("")
            for suffix in ("_pb2.py", "_pb2.pyi"):
                source = Path(tmp) / f"{stem}{suffix}"
                destination = target_dir / source.name
                shutil.copyfile(source, destination)
                written.append(destination)
    return written


if __name__ == "__main__":
    for path in generate():
        print(f"wrote {path.relative_to(ROOT)}")
