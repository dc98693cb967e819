"""Command cursors (PyMongo's ``CommandCursor``), and the latent kind whose command runs on first use."""

from __future__ import annotations

from typing import Any

from pymongo.synchronous.command_cursor import CommandCursor, RawBatchCommandCursor
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike._cursor import AgnosticBaseCursor
from motorlike.metaprogramming import unwrap_arguments, wraps_pymongo


@wraps_pymongo(CommandCursor)
class AgnosticCommandCursor(AgnosticBaseCursor):
    __motor_class_name__ = "MotorCommandCursor"

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: CommandCursor) -> AgnosticCommandCursor:
        return cls(delegate, owner)


@wraps_pymongo(RawBatchCommandCursor)
class AgnosticRawBatchCommandCursor(AgnosticCommandCursor):
    __motor_class_name__ = "MotorRawBatchCommandCursor"


class AgnosticLatentCommandCursor(AgnosticCommandCursor):
    """A command cursor whose command runs on first use (aggregate, list_indexes ...).

    ``collection.aggregate(pipeline)`` returns at once, without ``await``;
    the aggregation is sent when the cursor is first iterated, so a bad
    pipeline raises there.
    """

    __motor_class_name__ = "MotorLatentCommandCursor"
    __delegate_class__ = CommandCursor

    def __init__(self, owner: Any, start_method: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(None, owner)
        args, kwargs = unwrap_arguments(args, kwargs)
        self._start_method = start_method
        self._start_args = args
        self._start_kwargs = kwargs
        self._pending_batch_size: int | None = None

    def _ensure_started(self) -> Any:
        if self.delegate is None:
            start = getattr(self.collection.delegate, self._start_method)
            kwargs = self._start_kwargs
            if self._pending_batch_size is not None and self._start_method.startswith("aggregate"):
                kwargs = {"batchSize": self._pending_batch_size, **kwargs}
            cursor = start(*self._start_args, **kwargs)
            if self._pending_batch_size is not None:
                cursor.batch_size(self._pending_batch_size)
            self.delegate = cursor
        self.started = True
        return self.delegate

    def batch_size(self, batch_size: int) -> AgnosticLatentCommandCursor[_DocumentType]:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError(f"batch_size must be an integer, not {type(batch_size).__name__}")
        if batch_size < 0:
            raise ValueError("batch_size must be >= 0")
        if self.delegate is None:
            self._pending_batch_size = batch_size
        else:
            self.delegate.batch_size(batch_size)
        return self

    @property
    def cursor_id(self) -> Any:  # type: ignore[override]
        return None if self.delegate is None else self.delegate.cursor_id

    @property
    def address(self) -> Any:  # type: ignore[override]
        return None if self.delegate is None else self.delegate.address

    @property
    def session(self) -> Any:  # type: ignore[override]
        return None if self.delegate is None else self.delegate.session
