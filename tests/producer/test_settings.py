"""One reader of the environment: ``runstream.settings``, and every setting documented there.

A variable read anywhere else is a setting nobody can find (and the CLI, the worker
and the SDK could each read it differently), so the sources are walked with ``ast``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from runstream.errors import InvalidInputError
from runstream.settings import Settings, env_value, environment_snapshot, load_settings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = REPO / "producer" / "runstream" / "settings.py"
WALKED = [
    REPO / "producer" / "runstream",
    REPO / "processors" / "runstream_processors",
    REPO / "processors" / "chdb_http",
]
NOT_WALKED = [
    # Being moved into processors/chdb_http (which is walked), RUNSTREAM_SERVER_* with it.
    REPO / "processors" / "runstream_processors" / "server",
]
ENVIRONMENT_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
VARIABLE = re.compile(r"RUNSTREAM_[A-Z0-9_]+")


def _sources() -> Iterator[Path]:
    for root in WALKED:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else []:
            if path != SETTINGS and not any(path.is_relative_to(skip) for skip in NOT_WALKED):
                yield path


def _environment_accesses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT_NAMES:
            yield node.lineno, f"{ast.unparse(node)}"
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "posix"):
            for alias in node.names:
                if alias.name in ENVIRONMENT_NAMES:
                    yield node.lineno, f"from {node.module} import {alias.name}"


def test_only_settings_reads_the_environment() -> None:
    sources = list(_sources())
    assert len(sources) > 50, "the walk found too few files: did the layout change?"
    found = [
        f"{path.relative_to(REPO)}:{line}: {code}"
        for path in sources
        for line, code in _environment_accesses(ast.parse(path.read_text(), str(path)))
    ]
    assert not found, (
        "read the environment through runstream.settings (load_settings for RUNSTREAM_* "
        "variables, env_value/environment_snapshot for others):\n" + "\n".join(found)
    )


def test_the_walk_would_catch_each_form_of_access() -> None:
    code = "import os\nos.environ['A']\nos.getenv('B')\nfrom os import environ\nenviron.get('C')"
    assert sorted(line for line, _ in _environment_accesses(ast.parse(code))) == [2, 3, 4]


def _field_docstrings() -> dict[str, str]:
    """Each annotated field of Settings and the string right below it ("" when none)."""
    tree = ast.parse(SETTINGS.read_text())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings"]
    docs: dict[str, str] = {}
    for node, following in zip(cls.body, [*cls.body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            docs[node.target.id] = (
                following.value.value
                if isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                else ""
            )
    return docs


def test_every_field_has_a_docstring_naming_its_variable_and_default() -> None:
    docs = _field_docstrings()
    assert set(docs) == {field for field in Settings.__dataclass_fields__}
    problems = [
        f"{name}: {doc!r}"
        for name, doc in docs.items()
        if not VARIABLE.search(doc) or "default" not in doc.lower()
    ]
    assert not problems, "each Settings field's docstring names its variable and default"


def test_every_variable_load_settings_reads_is_documented_on_a_field() -> None:
    tree = ast.parse(SETTINGS.read_text())
    read = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and VARIABLE.fullmatch(node.value)
    }
    documented = {name for doc in _field_docstrings().values() for name in VARIABLE.findall(doc)}
    assert read, "load_settings reads RUNSTREAM_* variables by their literal names"
    assert read <= documented


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in environment_snapshot():
        if name.startswith("RUNSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.root == (tmp_path / ".runstream").resolve()
    assert settings.mode == "embedded"
    assert settings.kafka_topic == "runstream.events.v1"
    assert settings.kafka_compression == "gzip"
    assert settings.s3_bucket == "runstream-artifacts"
    assert settings.spool_retention_s == 168 * 3600.0
    assert None is settings.clickhouse_url is settings.s3_endpoint is settings.kafka_bootstrap


def test_an_empty_runstream_dir_means_the_default(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("RUNSTREAM_DIR", "")
    assert load_settings().root == (tmp_path / ".runstream").resolve()


def test_mode_picks_the_spool_and_keeps_the_layout(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("RUNSTREAM_DIR", str(tmp_path / "data"))
    embedded = load_settings()
    assert embedded.mode == "embedded"
    assert embedded.spool_dir == embedded.local_spool_dir == tmp_path / "data" / "spool" / "local"
    clean_env.setenv("RUNSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    kafka = load_settings()
    assert kafka.mode == "kafka"
    assert kafka.spool_dir == tmp_path / "data" / "spool" / "kafka"
    assert kafka.local_spool_dir == tmp_path / "data" / "spool" / "local"


@pytest.mark.parametrize(
    ("value", "codec"), [("gzip", "gzip"), (" GZIP ", "gzip"), ("none", None), ("", None)]
)
def test_kafka_compression(clean_env: pytest.MonkeyPatch, value: str, codec: str | None) -> None:
    clean_env.setenv("RUNSTREAM_KAFKA_COMPRESSION", value)
    assert load_settings().kafka_compression == codec


def test_an_unknown_kafka_compression_is_refused_by_name(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("RUNSTREAM_KAFKA_COMPRESSION", "lz4")
    with pytest.raises(InvalidInputError, match="RUNSTREAM_KAFKA_COMPRESSION must be one of"):
        load_settings()


def test_env_value_reads_other_variables_but_not_runstream_settings(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("RUNSTREAM_TEST_OTHER", "x")
    clean_env.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    assert env_value("CUBLAS_WORKSPACE_CONFIG") == ":4096:8"
    clean_env.delenv("CUBLAS_WORKSPACE_CONFIG")
    assert env_value("CUBLAS_WORKSPACE_CONFIG") is None
    with pytest.raises(ValueError, match="load_settings"):
        env_value("RUNSTREAM_TEST_OTHER")
    snapshot = environment_snapshot()
    assert snapshot["RUNSTREAM_TEST_OTHER"] == "x"
    snapshot["RUNSTREAM_TEST_OTHER"] = "changed"
    assert environment_snapshot()["RUNSTREAM_TEST_OTHER"] == "x", "a copy, not the environment"


def test_store_server_users_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "RUNSTREAM_SERVER_USERS",
        "RUNSTREAM_SERVER_PASSWORD",
        "RUNSTREAM_SERVER_READONLY_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
    plain = load_settings(tmp_path)
    assert (plain.server_users_file, plain.server_password, plain.server_readonly_password) == (
        None,
        None,
        None,
    )
    monkeypatch.setenv("RUNSTREAM_SERVER_USERS", str(tmp_path / "users.toml"))
    monkeypatch.setenv("RUNSTREAM_SERVER_PASSWORD", "rw-secret")
    monkeypatch.setenv("RUNSTREAM_SERVER_READONLY_PASSWORD", "ro-secret")
    given = load_settings(tmp_path)
    assert given.server_users_file == tmp_path / "users.toml"
    assert (given.server_password, given.server_readonly_password) == ("rw-secret", "ro-secret")
    assert "rw-secret" not in repr(given) and "ro-secret" not in repr(given)
