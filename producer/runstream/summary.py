"""``run.summary``: a dict of final results (typed), published as it changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping

from .config import ParamValue, scalar, to_params
from .errors import InvalidInputError, InvalidKeyError
from .limits import key_problem
from .wire import events_pb2 as pb


class Summary(MutableMapping[str, ParamValue]):
    """Values set here are sent as SummaryUpdate events and repeated in RunFinished."""

    def __init__(
        self,
        publish: Callable[[pb.SummaryUpdate], None],
        refuse: Callable[[InvalidInputError], None] | None = None,
    ) -> None:
        self._values: dict[str, ParamValue] = {}
        self._publish = publish
        self._refuse = refuse

    def __setitem__(self, key: str, value: object) -> None:
        """Set and publish ``key``; invalid input goes to ``refuse`` (raised without one)."""
        try:
            problem = key_problem(key)
            if problem:
                raise InvalidKeyError.of(f"summary key {key!r:.80}", problem)
            stored = scalar(key, value, "summary key")
            # raises (e.g. text too long) before anything changes
            entries = to_params({key: stored}, what="summary key")
        except InvalidInputError as error:
            if self._refuse is None:
                raise
            self._refuse(error)
            return
        self._publish(pb.SummaryUpdate(entries=entries))
        self._values[key] = stored

    def __getitem__(self, key: str) -> ParamValue:
        return self._values[key]

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def to_params(self) -> list[pb.Param]:
        return to_params(self._values, what="summary key")

    def __repr__(self) -> str:
        return f"Summary({self._values!r})"
