"""Sessions and transactions (PyMongo's ``ClientSession``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Coroutine

from pymongo.errors import OperationFailure, PyMongoError
from pymongo.synchronous.client_session import ClientSession

from motorlike._bridge import lane_of
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    DelegateMethod,
    MotorBackReference,
    ReadOnlyProperty,
    SerializedWorkerCalls,
    wraps_pymongo,
)

if TYPE_CHECKING:
    from motorlike._client import AgnosticClient


# ---------------------------------------------------------------------------
# Sessions and transactions

# PyMongo's limit on retrying a with_transaction callback and its commit.
_WITH_TRANSACTION_RETRY_TIME_LIMIT = 120


def _within_time_limit(start: float) -> bool:
    return time.monotonic() - start < _WITH_TRANSACTION_RETRY_TIME_LIMIT


def _max_time_expired(error: PyMongoError) -> bool:
    if isinstance(error, OperationFailure):
        if error.code == 50:
            return True
        details = error.details or {}
        return (details.get("writeConcernError") or {}).get("codeName") == "MaxTimeMSExpired"
    return False


class _MotorTransactionContext:
    """What ``session.start_transaction()`` returns: commits or aborts on exit."""

    __slots__ = ("_session",)

    def __init__(self, session: AgnosticClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> _MotorTransactionContext:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if self._session.in_transaction:
            if exc_type is None:
                await self._session.commit_transaction()
            else:
                await self._session.abort_transaction()


class _BoundSession:
    """What ``session.bind()`` returns: PyMongo's binding, entered in the caller's context."""

    __slots__ = ("_session", "_end_session", "_binding")

    def __init__(self, session: AgnosticClientSession, end_session: bool) -> None:
        self._session = session
        self._end_session = end_session
        self._binding: Any = None

    def __enter__(self) -> AgnosticClientSession:
        if self._end_session:
            raise TypeError(
                "bind() ends the session on exit, which needs 'async with' (a coroutine); "
                "use 'with session.bind(end_session=False)' for a plain 'with'"
            )
        self._binding = self._session.delegate.bind(end_session=False)
        self._binding.__enter__()
        return self._session

    def __exit__(self, *exc_info: Any) -> None:
        self._binding.__exit__(*exc_info)

    async def __aenter__(self) -> AgnosticClientSession:
        self._binding = self._session.delegate.bind(end_session=False)
        self._binding.__enter__()
        return self._session

    async def __aexit__(self, *exc_info: Any) -> None:
        self._binding.__exit__(*exc_info)
        if self._end_session:
            await self._session.end_session()


@wraps_pymongo(ClientSession)
class AgnosticClientSession(SerializedWorkerCalls, AgnosticBase):
    __motor_class_name__ = "MotorClientSession"
    __hash__ = None  # type: ignore[assignment]

    abort_transaction = AsyncCall()
    commit_transaction = AsyncCall()
    end_session = AsyncCall()

    cluster_time = ReadOnlyProperty()
    has_ended = ReadOnlyProperty()
    in_transaction = ReadOnlyProperty()
    operation_time = ReadOnlyProperty()
    options = ReadOnlyProperty()
    session_id = ReadOnlyProperty()

    advance_cluster_time = DelegateMethod()
    advance_operation_time = DelegateMethod()

    #: Motor's subclasses set ``self._client``; it becomes ``client``.
    _client = MotorBackReference("_motorlike_client")

    def __init__(self, delegate: ClientSession, motor_client: AgnosticClient) -> None:
        super().__init__(delegate)
        self._motorlike_client = motor_client
        self._init_strand()

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: ClientSession) -> AgnosticClientSession:
        return cls(delegate, owner)

    @property
    def client(self) -> AgnosticClient:
        """The motorlike client this session was started from."""
        return self._motorlike_client

    def get_io_loop(self) -> Any:
        return self._motorlike_client.get_io_loop()

    def _find_lane(self) -> Any:
        return lane_of(self.client)

    def start_transaction(
        self,
        read_concern: Any = None,
        write_concern: Any = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> _MotorTransactionContext:
        """Start a transaction (no I/O); ``async with`` commits it or aborts on error."""
        self.delegate.start_transaction(
            read_concern=read_concern,
            write_concern=write_concern,
            read_preference=read_preference,
            max_commit_time_ms=max_commit_time_ms,
        )
        return _MotorTransactionContext(self)

    async def with_transaction(
        self,
        coro: Callable[[Any], Coroutine[Any, Any, Any]],  # Any: each framework passes its own session class
        read_concern: Any = None,
        write_concern: Any = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> Any:
        """Run ``await coro(session)`` in a transaction, retrying as Motor does.

        The whole callback is retried on a TransientTransactionError, the
        commit alone on an UnknownTransactionCommitResult (not after a
        MaxTimeMSExpired), for up to 120 s; then the last error is raised.
        Retries follow at once: PyMongo 4.20's randomised backoff between
        them is not applied.
        """
        start = time.monotonic()
        while True:
            self.start_transaction(read_concern, write_concern, read_preference, max_commit_time_ms)
            try:
                result = await coro(self)
            except BaseException as exc:
                if self.in_transaction:
                    await self.abort_transaction()
                if (
                    isinstance(exc, PyMongoError)
                    and exc.has_error_label("TransientTransactionError")
                    and _within_time_limit(start)
                ):
                    continue
                raise
            if not self.in_transaction:
                # The callback committed or aborted by itself.
                return result
            while True:
                try:
                    await self.commit_transaction()
                except PyMongoError as exc:
                    if (
                        exc.has_error_label("UnknownTransactionCommitResult")
                        and _within_time_limit(start)
                        and not _max_time_expired(exc)
                    ):
                        continue
                    if exc.has_error_label("TransientTransactionError") and _within_time_limit(start):
                        break
                    raise
                return result

    def bind(self, end_session: bool = True) -> _BoundSession:
        """Use this session implicitly for operations in the block.

        ``async with session.bind():`` makes every operation started inside
        it (in this task) use the session without passing ``session=``; the
        binding travels to the worker threads with the task's context. As
        with PyMongo's ``bind``, the session is ended on exit unless
        ``end_session=False`` (which a plain ``with`` needs).
        """
        return _BoundSession(self, end_session)

    def __copy__(self) -> Any:
        # As PyMongo's: a copy would share the server session's state.
        raise TypeError("A ClientSession cannot be copied, create a new session instead")

    def __deepcopy__(self, memo: Any) -> Any:
        raise TypeError("A ClientSession cannot be copied, create a new session instead")

    async def __aenter__(self) -> AgnosticClientSession:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.end_session()

    def __enter__(self) -> Any:
        raise AttributeError(f"use 'async with' with {type(self).__name__}, not 'with'")

    def __exit__(self, *exc_info: Any) -> None:
        """Never reached: __enter__ refuses."""
