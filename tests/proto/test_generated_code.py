"""The wire contract: committed generated code is fresh, and the schema only ever grows.

``proto/runstream/v1/events.proto`` is append-only (see its header): a field number,
once used, keeps its name and type forever or is marked ``reserved``. Envelopes in a
user's spool or in Kafka outlive any release, so a reused number would make old
events decode as something else.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from runstream.wire import events_pb2 as pb

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_FILE = REPO_ROOT / "proto" / "runstream" / "v1" / "events.proto"
WIRE_DIR = REPO_ROOT / "producer" / "runstream" / "wire"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "proto_generate", REPO_ROOT / "proto" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_code_is_what_the_generator_writes(tmp_path: Path) -> None:
    written = _load_generator().generate(tmp_path)
    assert sorted(path.name for path in written) == ["events_pb2.py", "events_pb2.pyi"]
    for fresh in written:
        committed = WIRE_DIR / fresh.name
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"{committed.relative_to(REPO_ROOT)} is stale: run `python proto/generate.py`"
        )


# -- the schema only grows -------------------------------------------------------------------


def _strip_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)


def _numbers_per_block(text: str) -> dict[str, list[int]]:
    """Field (or enum value) numbers, and reserved numbers, per message or enum in a .proto.

    A ``oneof`` shares its message's numbers, so numbers count toward the nearest
    enclosing ``message``/``enum``; nested messages get their own dotted name.
    """
    numbers: dict[str, list[int]] = {}
    scopes: list[str | None] = []  # a name for message/enum blocks, None for oneof etc.
    for token in re.finditer(
        r"(?P<open>\b(?P<kind>message|enum|oneof)\s+(?P<name>\w+)\s*\{)"
        r"|(?P<close>\})"
        r"|(?P<reserved>\breserved\s+(?P<ranges>[^;]+);)"
        r"|(?P<field>=\s*(?P<number>\d+)\s*(\[[^\]]*\])?\s*;)",
        _strip_comments(text),
    ):
        owners = [scope for scope in scopes if scope is not None]
        if token["open"]:
            if token["kind"] == "oneof":
                scopes.append(None)
            else:
                name = ".".join([*owners, token["name"]])
                scopes.append(name)
                numbers.setdefault(name, [])
        elif token["close"]:
            scopes.pop()
        elif token["reserved"]:
            for part in token["ranges"].split(","):
                bounds = re.findall(r"\d+", part)  # names ("foo") carry no numbers
                if len(bounds) == 2:
                    numbers[owners[-1]].extend(range(int(bounds[0]), int(bounds[1]) + 1))
                elif bounds:
                    numbers[owners[-1]].append(int(bounds[0]))
        else:
            numbers[owners[-1]].append(int(token["number"]))
    assert not scopes, "unbalanced braces in the .proto"
    return numbers


def test_no_message_or_enum_uses_a_number_twice() -> None:
    numbers = _numbers_per_block(PROTO_FILE.read_text())
    assert {"Envelope", "MetricBatch", "RunStatus"} <= set(numbers), "the parser missed blocks"
    assert len(numbers["Envelope"]) == 18  # 7 header fields + 11 payloads in the oneof
    for block, used in numbers.items():
        duplicates = sorted({number for number in used if used.count(number) > 1})
        assert not duplicates, f"{block} uses field numbers {duplicates} more than once"


def test_the_parser_would_catch_a_reused_number() -> None:
    """The check above can fail: a oneof member reusing a header field's number."""
    proto = """
        message Envelope {
          string event_id = 1;
          oneof payload {
            Heartbeat heartbeat = 1;  // clashes with event_id
          }
          reserved 7, 9 to 10;
        }
    """
    assert _numbers_per_block(proto) == {"Envelope": [1, 1, 7, 9, 10]}


def test_the_next_envelope_field_number_comment_is_above_every_used_number() -> None:
    text = PROTO_FILE.read_text()
    found = re.search(r"//\s*Next Envelope field number:\s*(\d+)", text)
    assert found, "events.proto lost its 'Next Envelope field number: N' comment"
    used = _numbers_per_block(text)["Envelope"]
    assert int(found[1]) > max(used)
    assert int(found[1]) > max(field.number for field in pb.Envelope.DESCRIPTOR.fields)


# Every field as released in runstream.v1 (number: "name: type"). Fields may be added;
# these must never change. To remove one, mark its number and name `reserved`.
RELEASED_V1: dict[str, dict[int, str]] = {
    "Envelope": {
        1: "event_id: string",
        2: "project: string",
        3: "run_id: string",
        4: "seq: uint64",
        5: "time_unix_nano: int64",
        6: "sdk_version: string",
        10: "run_started: RunStarted",
        11: "metrics: MetricBatch",
        12: "system: SystemStats",
        13: "samples: SampleBatch",
        14: "artifact: ArtifactLogged",
        15: "dataset: DatasetVersion",
        16: "run_finished: RunFinished",
        17: "heartbeat: Heartbeat",
        18: "summary: SummaryUpdate",
        22: "run_started_continued: RunStartedContinued",
    },
    "Value": {1: "number: double", 2: "integer: int64", 3: "flag: bool", 4: "text: string"},
    "Param": {1: "key: string", 2: "value: Value"},
    "GitInfo": {
        1: "commit: string",
        2: "branch: string",
        3: "remote: string",
        4: "dirty: bool",
        5: "diff_sha256: string",
    },
    "Package": {1: "name: string", 2: "version: string"},
    "Gpu": {
        1: "index: uint32",
        2: "name: string",
        3: "memory_total_bytes: uint64",
        4: "uuid: string",
    },
    "Environment": {
        1: "python_version: string",
        2: "python_executable: string",
        3: "os: string",
        4: "hostname: string",
        5: "user: string",
        6: "cpu_model: string",
        7: "cpu_count: uint32",
        8: "memory_total_bytes: uint64",
        9: "packages: repeated Package",
        10: "gpus: repeated Gpu",
        11: "gpu_driver_version: string",
        12: "cuda_version: string",
        13: "variables: map<string, string>",
        14: "determinism: map<string, string>",
    },
    "RunStarted": {
        1: "name: string",
        2: "tags: repeated string",
        3: "params: repeated Param",
        4: "environment: Environment",
        5: "git: GitInfo",
        6: "command: repeated string",
        7: "working_dir: string",
        8: "has_seed: bool",
        9: "seed: int64",
        10: "heartbeat_interval_ms: uint32",
        11: "notes: string",
    },
    "MetricBatch": {
        1: "split: string",
        2: "keys: repeated string",
        3: "row_lengths: bytes",
        4: "steps: bytes",
        5: "time_unix_nano: bytes",
        6: "key_index: bytes",
        7: "values: bytes",
    },
    "SystemStats": {
        1: "hostname: string",
        2: "keys: repeated string",
        3: "key_index: repeated uint32",
        4: "values: repeated double",
        5: "time_unix_nano: repeated int64",
    },
    "Sample": {
        1: "id: string",
        2: "input: string",
        3: "prediction: string",
        4: "label: string",
        5: "has_label: bool",
    },
    "SampleBatch": {1: "step: int64", 2: "split: string", 3: "samples: repeated Sample"},
    "ArtifactLogged": {
        1: "name: string",
        2: "kind: string",
        3: "sha256: string",
        4: "size_bytes: uint64",
        5: "uri: string",
        6: "source_path: string",
        7: "metadata: map<string, string>",
    },
    "DatasetFile": {1: "path: string", 2: "size_bytes: uint64", 3: "sha256: string"},
    "DatasetVersion": {1: "name: string", 2: "version: string", 3: "files: repeated DatasetFile"},
    "SummaryUpdate": {1: "entries: repeated Param"},
    "RunStartedContinued": {1: "params: repeated Param", 2: "packages: repeated Package"},
    "RunFinished": {
        1: "status: RunStatus",
        2: "summary: repeated Param",
        3: "not_recorded: map<string, uint64>",
        4: "nonfinite_values: uint64",
    },
    "Heartbeat": {1: "interval_ms: uint32"},
}
RELEASED_V1_ENUMS: dict[str, dict[int, str]] = {
    "RunStatus": {
        0: "RUN_STATUS_UNSPECIFIED",
        1: "RUN_STATUS_FINISHED",
        2: "RUN_STATUS_FAILED",
        3: "RUN_STATUS_KILLED",
    },
}

_SCALAR_NAMES = {
    number: name[len("TYPE_") :].lower()
    for name, number in vars(FieldDescriptor).items()
    if name.startswith("TYPE_")
}


def describe(field: FieldDescriptor) -> str:
    """``repeated Package``, ``map<string, uint64>``, ``RunStatus``, ``int64``, ..."""
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
        entry = field.message_type.fields_by_name
        return f"map<{describe(entry['key'])}, {describe(entry['value'])}>"
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        kind = field.message_type.name
    elif field.type == FieldDescriptor.TYPE_ENUM:
        kind = field.enum_type.name
    else:
        kind = _SCALAR_NAMES[field.type]
    return f"repeated {kind}" if field.is_repeated else kind


def _reserved_numbers(message: Descriptor) -> set[int]:
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    return {n for r in proto.reserved_range for n in range(r.start, r.end)}  # end is exclusive


@pytest.mark.parametrize("message_name", sorted(RELEASED_V1))
def test_released_fields_keep_their_number_name_and_type(message_name: str) -> None:
    message = pb.DESCRIPTOR.message_types_by_name.get(message_name)
    assert message is not None, f"message {message_name} was removed from runstream.v1"
    reserved = _reserved_numbers(message)
    for number, released in RELEASED_V1[message_name].items():
        field = message.fields_by_number.get(number)
        if field is None:
            assert number in reserved, (
                f"{message_name} field {number} ({released}) was removed "
                f"without `reserved {number};`"
            )
            continue
        assert f"{field.name}: {describe(field)}" == released, (
            f"{message_name} field {number} changed; add a new field with a new number instead"
        )


def test_released_enum_values_keep_their_numbers() -> None:
    for enum_name, released in RELEASED_V1_ENUMS.items():
        values = pb.DESCRIPTOR.enum_types_by_name[enum_name].values_by_number
        assert {number: values[number].name for number in released if number in values} == released


def test_envelope_payloads_share_one_oneof() -> None:
    """Processors dispatch on WhichOneof('payload'): every payload must be a member."""
    oneof = pb.Envelope.DESCRIPTOR.oneofs_by_name["payload"]
    members = {field.number for field in oneof.fields}
    assert members >= {number for number in RELEASED_V1["Envelope"] if number >= 10}
