# ruff: noqa: E501  (the table of planted secrets reads best one secret a line)
"""No secret reaches the spool, the store, Kafka or the artifact store.

:data:`PLANTED` lists the kinds of secrets a training job leaks in practice, each in the place
it would leak from: config, command line, environment, tags, notes, artifact metadata, the git
remote and the uncommitted diff. One real run (embedded mode) starts from a dirty repository
holding all of them; the raw spool, every string column of every table of the store and the
stored artifacts must then hold none of them. With scrubbing switched off the same run leaks
every one (so the test can see a leak), and team mode is checked on the real broker's records
and the real S3 server's objects.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import runstream
from real_services import S3Endpoint
from runstream import config as config_module
from runstream.redaction import COUNT_KEY, REDACTED, Scrubber
from runstream.settings import Settings, load_settings
from runstream.spool import Checkpoint, SpoolReader
from runstream.wire import events_pb2 as pb
from support.runs import store

_random = random.Random(20261201)
ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
BASE64 = ALNUM + "+/"


def rand(length: int, alphabet: str = ALNUM) -> str:
    """Deterministic random text (no real secret in this file, none sequential either)."""
    return "".join(_random.choice(alphabet) for _ in range(length))


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Planted:
    """One secret: its kind, where it is planted (``where`` and ``name``), the text planted,
    and the parts of it that must never be stored (default: the whole text)."""

    kind: str
    where: str  # config, argv, env, tags, notes, metadata, remote, diff:<file>
    name: str
    text: str
    needles: tuple[str, ...] = field(default=())

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.needles or (self.text,)


def _planted() -> list[Planted]:
    aws_secret = rand(40, BASE64)
    slack_hook = rand(24)
    jwt_payload = b64url({"sub": rand(12), "name": "trainer", "iat": 1764547200})
    jwt_signature = rand(43, ALNUM + "-_")
    bearer = rand(40)
    key_body = [rand(64, BASE64) for _ in range(3)]
    diff_key_body = [rand(64, BASE64) for _ in range(3)]
    db_password = rand(16)
    npm = "npm_" + rand(36)
    query_token = rand(24)
    query_key = rand(24)
    azure = rand(86, BASE64) + "=="
    remote_token = "glpat-" + rand(20)
    password_flag, token_flag, api_key_flag = rand(14), rand(18), rand(20)
    diff_password, yaml_secret = rand(16), rand(16)
    mailchimp, tag_password = rand(32, LOWER_ALNUM) + "-us12", rand(14)
    return [
        Planted("aws_access_key_id", "env", "DEPLOY_IDENT", "AKIA" + rand(16, string.ascii_uppercase + string.digits)),
        Planted("aws_secret_access_key", "diff:train.py", "", f'aws_secret_key = "{aws_secret}"', (aws_secret,)),
        Planted("github_pat", "env", "GH_PAT", "ghp_" + rand(36)),
        Planted("github_oauth_token", "argv", "--clone-with", "gho_" + rand(36)),
        Planted("gitlab_pat", "tags", "", "glpat-" + rand(20)),
        Planted("slack_bot_token", "notes", "", f"xoxb-{rand(11, string.digits)}-{rand(12, string.digits)}-{rand(24, LOWER_ALNUM)}"),
        Planted("slack_webhook", "env", "SLACK_HOOK", f"https://hooks.slack.com/services/T{rand(10, string.ascii_uppercase + string.digits)}/B{rand(10, string.ascii_uppercase + string.digits)}/{slack_hook}", (slack_hook,)),
        Planted("stripe_live_key", "config", "billing.backend", "sk_live_" + rand(24)),
        Planted("twilio_account_sid", "metadata", "account", "AC" + rand(32, LOWER_ALNUM)),
        Planted("sendgrid_key", "config", "mail.transport", f"SG.{rand(22)}.{rand(43)}"),
        Planted("npm_token", "env", "NPM_CONFIG_LINE", f"//registry.npmjs.org/:_authToken={npm}", (npm,)),
        Planted("pypi_token", "argv", "--upload-with", "pypi-AgEIcHlwaS5vcmc" + rand(80, ALNUM + "-_")),
        Planted("openai_key", "env", "LLM_SETTINGS", f"sk-{rand(20)}T3BlbkFJ{rand(20)}"),
        Planted("jwt", "config", "client.assertion", f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{jwt_payload}.{jwt_signature}", (jwt_payload, jwt_signature)),
        Planted("bearer_header", "env", "HEADER", f"Authorization: Bearer {bearer}", (bearer,)),
        Planted("private_key_in_env", "env", "DEPLOY_PEM", "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *key_body, "-----END RSA PRIVATE KEY-----"]), tuple(key_body)),
        Planted("private_key_in_diff", "diff:deploy.py", "", "\n".join(["KEY = '''-----BEGIN OPENSSH PRIVATE KEY-----", *diff_key_body, "-----END OPENSSH PRIVATE KEY-----'''"]), tuple(diff_key_body)),
        Planted("basic_auth_url", "config", "db.url", f"postgresql://trainer:{db_password}@db.internal:5432/runs", (db_password,)),
        Planted("url_token_parameter", "argv", "--endpoint", f"https://api.example.com/v1/data?token={query_token}&page=2", (query_token,)),
        Planted("url_key_parameter", "metadata", "source", f"https://storage.example.com/blob.bin?key={query_key}", (query_key,)),
        Planted("password_flag", "argv", "--password", password_flag),
        Planted("token_flag_with_equals", "argv", "--token=", token_flag),
        Planted("api_key_flag", "argv", "--api-key", api_key_flag),
        Planted("high_entropy_value", "env", "RUN_CACHE_BLOB", rand(40, BASE64)),
        Planted("keyword_assignment_in_diff", "diff:train.py", "", f'db_password = "{diff_password}"', (diff_password,)),
        Planted("keyword_in_yaml_diff", "diff:config.yaml", "", f"secret: {yaml_secret}", (yaml_secret,)),
        Planted("discord_bot_token", "diff:notes.md", "", f"M{rand(23)}.{rand(6)}.{rand(27)}"),
        Planted("telegram_bot_token", "notes", "", f"{rand(9, string.digits)}:{rand(35, ALNUM + '_-')}"),
        Planted("azure_storage_key", "env", "AZURE_STORAGE_CONNECTION_STRING", f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={azure}", (azure.rstrip("="),)),
        Planted("mailchimp_key", "diff:config.yaml", "", f"mailchimp: {mailchimp}", (mailchimp,)),
        Planted("git_remote_credentials", "remote", "", f"https://oauth2:{remote_token}@gitlab.example.com/org/repo.git", (remote_token,)),
        Planted("secret_named_env", "env", "MY_SERVICE_SECRET", rand(12)),
        Planted("secret_named_config_key", "config", "db.password", rand(12)),
        Planted("credentials_in_a_tag_url", "tags", "", f"s3://ingest:{tag_password}@minio.internal/bucket", (tag_password,)),
    ]  # fmt: skip


PLANTED = _planted()


HARMLESS_ENV = {
    "CUDA_VISIBLE_DEVICES": "0,1",
    "OMP_NUM_THREADS": "4",
    "GIT_COMMIT": "3f786850e387550fdab836ed7e6dc881de23001b",
    "RUN_UUID": "0f8fad5b-d9cb-4e6a-b2fa-7f1d0c6b5c6e",
    "DATA_DIR": "/mnt/datasets/imagenet/train",
    "HF_ENDPOINT": "https://huggingface.co",
}
HARMLESS_CONFIG = {"lr": 0.1, "model.tokenizer": "bert-base-uncased", "optimizer": "adamw"}


# -- the places ----------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True, text=True)
    return done.stdout.strip()


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for variable in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(variable, raising=False)


def dirty_repository(root: Path) -> Path:
    """A committed repository whose uncommitted changes hold the ``diff:`` secrets."""
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.invalid")
    files = sorted({p.where.split(":", 1)[1] for p in PLANTED if p.where.startswith("diff:")})
    for name in files:
        (root / name).write_text("# settings\nlr = 0.1\n")
    git(root, "add", *files)
    git(root, "commit", "--quiet", "-m", "first")
    for name in files:
        added = [p.text for p in PLANTED if p.where == f"diff:{name}"]
        (root / name).write_text("# settings\nlr = 0.2\n" + "\n".join(added) + "\n")
    [remote] = [p.text for p in PLANTED if p.where == "remote"]
    git(root, "remote", "add", "origin", remote)
    return root


def plant(monkeypatch: pytest.MonkeyPatch, root: Path) -> dict[str, Any]:
    """Environment, command line and working directory set; returns the init() arguments."""
    for name, value in HARMLESS_ENV.items():
        monkeypatch.setenv(name, value)
    argv = ["train.py", "--lr", "0.1", "-p", "8"]
    for planted in PLANTED:
        if planted.where == "env":
            monkeypatch.setenv(planted.name, planted.text)
        elif planted.where == "argv" and planted.name.endswith("="):
            argv.append(planted.name + planted.text)
        elif planted.where == "argv":
            argv.extend([planted.name, planted.text])
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.chdir(root)
    config: dict[str, Any] = dict(HARMLESS_CONFIG)
    config.update({p.name: p.text for p in PLANTED if p.where == "config"})
    return {
        "config": config,
        "tags": ["cnn", *(p.text for p in PLANTED if p.where == "tags")],
        "notes": "baseline; " + "; ".join(p.text for p in PLANTED if p.where == "notes"),
    }


def planted_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> runstream.Run:
    options = plant(monkeypatch, dirty_repository(tmp_path / "repo"))
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    metadata = {p.name: p.text for p in PLANTED if p.where == "metadata"}
    with runstream.init(
        project="secrets", name=name, seed=0, system_interval=None, **options
    ) as run:
        run.log({"loss": 0.5}, step=0)
        run.log_artifact(model, name="model", kind="checkpoint", metadata=metadata)
    return run


# -- where to look -------------------------------------------------------------------------


def leaks(haystacks: dict[str, bytes]) -> list[str]:
    """'kind in place' for every planted secret found in any of ``haystacks``."""
    found = []
    for planted in PLANTED:
        for needle in planted.secrets:
            for place, data in haystacks.items():
                if needle.encode() in data:
                    found.append(f"{planted.kind} in {place}")
    return found


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def store_tables(settings: Settings) -> dict[str, bytes]:
    """Every table and view of the store, as TSV."""
    with store(settings) as client:
        tables = client.query(
            "SELECT name FROM system.tables WHERE database = 'runstream' ORDER BY name"
        ).result_rows
        assert len(tables) > 10, tables
        return {
            f"runstream.{table}": client.raw_query(f"SELECT * FROM runstream.`{table}`", fmt="TSV")
            for (table,) in tables
        }


def spool_envelopes(spool_dir: Path) -> list[pb.Envelope]:
    reader, checkpoint = SpoolReader(spool_dir), Checkpoint(spool_dir / "tests-unsaved.json")
    envelopes: list[pb.Envelope] = []
    while batch := reader.read(checkpoint).records:
        envelopes.extend(pb.Envelope.FromString(record.payload) for record in batch)
        checkpoint.advance(batch)
    return envelopes


# -- each kind, alone ----------------------------------------------------------------------


@pytest.mark.parametrize("planted", PLANTED, ids=[p.kind for p in PLANTED])
def test_each_kind_is_redacted_where_it_is_planted(planted: Planted) -> None:
    scrubber = Scrubber()
    if planted.where == "env" or planted.where == "metadata":
        kept = scrubber.values({planted.name: planted.text})[planted.name]
    elif planted.where == "config":
        [param] = config_module.to_params({planted.name: planted.text}, scrubber)
        kept = param.value.text
    elif planted.where == "argv":
        flag = (
            [planted.name + planted.text]
            if planted.name.endswith("=")
            else [planted.name, planted.text]
        )
        kept = " ".join(scrubber.argv(["train.py", *flag]))
        assert planted.name in kept  # the flag stays, its value goes
    elif planted.where in ("tags", "notes"):
        [kept] = scrubber.texts([planted.text])
    elif planted.where == "remote":
        kept = scrubber.url(planted.text)
        assert kept == "https://gitlab.example.com/org/repo.git"  # no user, no password
        kept += REDACTED
    else:
        name = planted.where.split(":", 1)[1]
        diff = (
            f"diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n@@ -1,2 +1,3 @@\n"
            " # settings\n" + "".join(f"+{line}\n" for line in planted.text.split("\n"))
        )
        kept = scrubber.diff(diff.encode()).decode()
        assert kept.count("\n") == diff.count("\n")  # every line kept
    assert REDACTED in kept
    assert scrubber.count >= 1
    for needle in planted.secrets:
        assert needle not in kept, f"{planted.kind}: {kept!r}"


def test_ordinary_values_are_kept() -> None:
    scrubber = Scrubber()
    assert scrubber.values(HARMLESS_ENV) == HARMLESS_ENV
    assert scrubber.argv(["train.py", "--lr", "0.1", "-p", "8", "--no-auth", "data/"]) == [
        "train.py", "--lr", "0.1", "-p", "8", "--no-auth", "data/",
    ]  # fmt: skip
    assert scrubber.texts(["cnn", "baseline", "https://github.com/org/repo"]) == [
        "cnn", "baseline", "https://github.com/org/repo",
    ]  # fmt: skip
    assert scrubber.url("ssh://git@github.com/org/repo.git") == "ssh://github.com/org/repo.git"
    assert scrubber.count == 0
    params = config_module.to_params(HARMLESS_CONFIG)
    assert {p.key: p.value.WhichOneof("kind") for p in params} == {
        "lr": "number", "model.tokenizer": "text", "optimizer": "text",
    }  # fmt: skip
    assert [p.value.text for p in params[1:]] == ["bert-base-uncased", "adamw"]


def test_a_clean_diff_is_kept_byte_for_byte() -> None:
    diff = subprocess.run(
        ["git", "log", "-p", "-n", "20", "--format=", "--", "producer/runstream/run.py"],
        cwd=Path(__file__).parents[2], capture_output=True, check=False,
    ).stdout  # fmt: skip
    if not diff:
        pytest.skip("no git history here")
    assert Scrubber().diff(diff) == diff


def test_a_large_diff_and_environment_are_scrubbed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A diff of a few MB and a few hundred variables: every secret found, none left.

    Their cost is printed, not asserted (measured about 0.2 s per MB of diff and 10 ms for
    the environment on one core here)."""
    source = b"".join(
        f"+    value_{index} = compute(batch[{index}], scale=0.{index % 10})\n".encode()
        for index in range(60_000)
    )
    secrets = "".join(f'+token_{i} = "ghp_{rand(36)}"\n' for i in range(20)).encode()
    diff = b"diff --git a/model.py b/model.py\n--- a/model.py\n+++ b/model.py\n" + source + secrets
    assert len(diff) > 3_000_000
    Scrubber().values({"warm": "up"})  # imports detect-secrets (once per process)
    began = time.perf_counter()
    scrubber = Scrubber()
    scrubbed = scrubber.diff(diff)
    diff_s = time.perf_counter() - began
    assert scrubber.count == 20 and b"ghp_" not in scrubbed
    for index in range(300):
        monkeypatch.setenv(f"VARIABLE_{index}", f"/opt/tools/{index}/bin:{rand(10)}")
    token = f"ghp_{rand(36)}"
    monkeypatch.setenv("PLAIN_LOOKING_NAME", token)
    began = time.perf_counter()
    from runstream.capture.environment import environment_variables

    captured = environment_variables()
    env_s = time.perf_counter() - began
    assert not any(token in value for value in captured.values())
    print(f"scrubbing: {len(diff) / 1e6:.1f} MB diff in {diff_s:.3f} s, environment {env_s:.3f} s")


# -- a real run ----------------------------------------------------------------------------


def test_no_planted_secret_reaches_the_spool_the_store_or_the_artifacts(
    runstream_dir: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = planted_run(monkeypatch, tmp_path, "planted")
    assert run.report is not None and run.report.complete, run.report
    settings = load_settings()

    haystacks = {f"spool/{k}": v for k, v in files_under(settings.root / "spool").items()}
    haystacks |= {f"artifacts/{k}": v for k, v in files_under(settings.artifacts_dir).items()}
    haystacks |= store_tables(settings)
    assert leaks(haystacks) == []
    # The store did take the run in: its environment, its scrubbed params.
    assert b"CUDA_VISIBLE_DEVICES" in haystacks["runstream.runs_started"]
    assert REDACTED.encode() in haystacks["runstream.params"]

    # What was scrubbed is still recorded, with markers, and counted.
    envelopes = spool_envelopes(settings.spool_dir)
    started = envelopes[0].run_started
    params = {p.key: p.value for p in started.params}
    # Every secret but the artifact's metadata (counted on the artifact), the diff's too.
    assert params[COUNT_KEY].integer >= len([p for p in PLANTED if p.where != "metadata"])
    assert params["db.password"].text == REDACTED
    assert params["lr"].number == 0.1 and params["model.tokenizer"].text == "bert-base-uncased"
    command = list(started.command)
    assert command[1:6] == ["train.py", "--lr", "0.1", "-p", "8"]
    assert command[command.index("--password") + 1] == REDACTED
    assert started.tags[0] == "cnn" and REDACTED in started.tags[1]
    assert started.notes.startswith("baseline; ")
    variables = started.environment.variables
    assert {name: variables[name] for name in HARMLESS_ENV} == HARMLESS_ENV
    assert variables["DEPLOY_PEM"] == REDACTED
    assert started.git.remote == "https://gitlab.example.com/org/repo.git"
    artifacts = [e.artifact for e in envelopes if e.WhichOneof("payload") == "artifact"]
    [diff] = [artifact for artifact in artifacts if artifact.kind == "code-diff"]
    [model] = [artifact for artifact in artifacts if artifact.name == "model"]
    assert model.metadata[COUNT_KEY] == "2"
    assert model.metadata["source"].startswith("https://storage.example.com/blob.bin?key=")

    # The stored diff is the scrubbed one, hashed as stored, and still applies to HEAD.
    stored = settings.artifacts_dir.rglob(diff.sha256)
    [diff_file] = [path for path in stored if path.is_file()]
    text = diff_file.read_bytes()
    assert started.git.diff_sha256 == diff.sha256 and REDACTED.encode() in text
    repo = tmp_path / "repo"
    git(repo, "stash", "--quiet")
    subprocess.run(["git", "apply", "--check", str(diff_file)], cwd=repo, check=True)


def test_without_scrubbing_every_planted_secret_would_leak(
    runstream_dir: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The check above can see a leak: the same run with the scrubber switched off."""
    monkeypatch.setattr(Scrubber, "values", lambda self, texts: dict(texts))
    monkeypatch.setattr(Scrubber, "texts", lambda self, texts: list(texts))
    monkeypatch.setattr(Scrubber, "argv", lambda self, args: list(args))
    monkeypatch.setattr(Scrubber, "url", lambda self, url: url)
    monkeypatch.setattr(Scrubber, "diff", lambda self, diff: diff)
    monkeypatch.setattr(Scrubber, "value", lambda self, text, key="": text)
    monkeypatch.setattr(config_module, "is_credential_key", lambda key: False)
    monkeypatch.setattr("runstream.capture.environment.is_credential_key", lambda key: False)
    planted_run(monkeypatch, tmp_path, "unscrubbed")
    settings = load_settings()
    everywhere = {
        "spool": files_under(settings.root / "spool"),
        "artifacts": files_under(settings.artifacts_dir),
        "store": store_tables(settings),
    }
    in_diff = {p.kind for p in PLANTED if p.where.startswith("diff:")}
    for place, haystacks in everywhere.items():
        leaked = {entry.split(" in ")[0] for entry in leaks(haystacks)}
        # The diff is in the artifact store only; the rest is in the spool and the store.
        expected = in_diff if place == "artifacts" else {p.kind for p in PLANTED} - in_diff
        assert leaked >= expected, (place, expected - leaked)


# -- team mode: the broker's records and the bucket's objects ------------------------------


@pytest.fixture
def topic(kafka_bootstrap: str) -> Iterator[str]:
    from runstream_processors.topics import ensure_topics, runstream_topics

    name = f"tests.secrets.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, runstream_topics(name, 1, f"{name}.dlq"))
    yield name
    from kafka import KafkaAdminClient

    with contextlib.suppress(Exception):
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        admin.delete_topics([name, f"{name}.dlq"])
        admin.close()


def consume_all(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[bytes]:
    """The raw values of at least ``count`` records of ``topic``, from the start."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=int(timeout * 1000))  # fmt: skip
    values: list[bytes] = []
    try:
        for record in consumer:
            values.append(record.value)
            if len(values) >= count:
                break
    finally:
        consumer.close()
    return values


@pytest.mark.services
def test_no_planted_secret_reaches_kafka(
    runstream_dir: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kafka_bootstrap: str,
    topic: str,
) -> None:
    monkeypatch.setenv("RUNSTREAM_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("RUNSTREAM_KAFKA_TOPIC", topic)
    monkeypatch.setenv("RUNSTREAM_KAFKA_COMPRESSION", "none")  # grep the bytes as sent
    run = planted_run(monkeypatch, tmp_path, "planted-kafka")
    assert run.report is not None and run.report.complete, run.report
    sent = spool_envelopes(load_settings().spool_dir)
    records = consume_all(kafka_bootstrap, topic, len(sent))
    assert len(records) == len(sent)
    assert any(b"secrets" in value for value in records)  # the run's own records
    assert leaks({f"{topic}[{index}]": value for index, value in enumerate(records)}) == []


@pytest.mark.services
def test_no_planted_secret_reaches_the_bucket(
    runstream_dir: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    s3_endpoint: S3Endpoint,
) -> None:
    from minio import Minio
    from runstream.artifacts import object_key

    for name, value in {
        "RUNSTREAM_S3_ENDPOINT": s3_endpoint.url,
        "RUNSTREAM_S3_ACCESS_KEY": s3_endpoint.access_key,
        "RUNSTREAM_S3_SECRET_KEY": s3_endpoint.secret_key,
        "RUNSTREAM_S3_BUCKET": s3_endpoint.bucket,
    }.items():
        monkeypatch.setenv(name, value)
    run = planted_run(monkeypatch, tmp_path, "planted-s3")
    assert run.report is not None and run.report.complete, run.report
    envelopes = spool_envelopes(load_settings().spool_dir)
    [diff] = [
        e.artifact for e in envelopes if e.WhichOneof("payload") == "artifact"
        and e.artifact.kind == "code-diff"
    ]  # fmt: skip
    assert diff.uri.startswith("s3://")
    bucket = Minio(s3_endpoint.netloc, access_key=s3_endpoint.access_key,
                   secret_key=s3_endpoint.secret_key, secure=s3_endpoint.secure)  # fmt: skip
    response = bucket.get_object(s3_endpoint.bucket, object_key(diff.sha256))
    try:
        data = response.read()
    finally:
        response.close()
        response.release_conn()
    assert REDACTED.encode() in data
    assert leaks({"bucket": data}) == []
    if s3_endpoint.secret_key:  # RUNSTREAM_S3_SECRET_KEY is in the environment, redacted
        spool = b"".join(files_under(load_settings().root / "spool").values())
        assert s3_endpoint.secret_key.encode() not in spool
