"""Independent sub-questions in flight at once, under the client query's budget.

A glueless delegation's NS names used to be resolved one after the other:
a name whose own zone is slow or broken cost its whole resolution before
the next name was even tried. Unbound sends several target queries at once
(iterator.c ``query_for_targets``, how many by dependency depth from
``target-fetch-policy``, default "3 2 1 0 0") and goes on as soon as one
gives a usable address; ``first_usable`` does the same for any set of
sub-resolutions.

It runs the sub-exchanges interleaved within one exchange, so the driver
sees one generator as before (``resolver.exchange``): each child's
``Launch``, ``Abandon`` and ``PAUSE`` pass through, its plain
``UpstreamQuery`` becomes a ``Launch`` whose ``Landed`` result is sent back
bare (the child cannot tell), and the children's ``Await`` become one
``Await`` on all of their attempts with the earliest deadline; whatever
lands goes to the child whose attempt it is, a ``Tick`` to each child whose
deadline came. Nothing is copied per child: the children spend the same
``Budget`` (``resolver.limits``), so N lookups in flight cost what N
lookups one after the other cost, never N budgets.

Once one child returns a usable result, the others are closed and their
attempts still in flight abandoned: a late reply only reaches ``late``.
Pure: no I/O, no Trio.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from resolver.exchange import (
    Abandon,
    Await,
    DriverMisuse,
    Exchange,
    Landed,
    Launch,
    Launched,
    Pause,
    Sent,
    Tick,
    UpstreamQuery,
    UpstreamReply,
)

K = TypeVar("K")
T = TypeVar("T")

#: NS names whose addresses are looked up at once, by dependency depth (the
#: client question's own delegations are depth 0): Unbound's default
#: ``target-fetch-policy`` "3 2 1 0 0", where 0 still looks up the one
#: name that is needed. Deeper lookups fan out less, so that a chain of
#: glueless delegations does not multiply its width at every level.
LOOKUPS_AT_ONCE = (3, 2, 1)


def lookups_at_once(depth: int) -> int:
    """How many NS names of one cut to look up at once at dependency ``depth``."""
    return LOOKUPS_AT_ONCE[depth] if depth < len(LOOKUPS_AT_ONCE) else 1


@dataclass(eq=False, slots=True)
class _Child(Generic[T]):
    """One sub-exchange: what it waits for, and its attempts still in flight."""

    exchange: Exchange[T]
    attempts: set[int] = field(default_factory=set)
    #: Its pending ``Await``; None while it runs or once it has returned.
    waiting: Await | None = None
    #: It asked a plain ``UpstreamQuery``: its result goes back without ``Landed``.
    bare: bool = False
    done: bool = False
    result: T | None = None


def first_usable(
    exchanges: dict[K, Exchange[T]],
    usable: Callable[[T], bool],
    late: Callable[[UpstreamReply], None],
) -> Exchange[dict[K, T]]:
    """Run ``exchanges`` at once until one returns a result that is ``usable``.

    Returns the results of those that returned (the usable one among them,
    unless none was): the ones still running then are closed, so their keys
    are missing. An exception from any child (a spent budget) closes the
    others and propagates.
    """
    if len(exchanges) == 1:
        [(key, only)] = exchanges.items()
        return {key: (yield from only)}
    children = {key: _Child(exchange) for key, exchange in exchanges.items()}
    results: dict[K, T] = {}
    try:
        runnable: list[tuple[_Child[T], Sent]] = [(child, None) for child in children.values()]
        while True:
            for child, sent in runnable:
                yield from _run(child, sent)
            for key, child in children.items():
                if child.done and key not in results:
                    results[key] = cast(T, child.result)
                    if usable(results[key]):
                        yield from _stop(children.values(), late)
                        return results
            waiting = [child for child in children.values() if child.waiting is not None]
            if not waiting:
                return results
            runnable = yield from _next_event(waiting)
    except GeneratorExit:
        _close(children.values())
        raise
    except BaseException:
        yield from _stop(children.values(), late)
        raise


def alongside(
    main: Exchange[T], side: Exchange[None], late: Callable[[UpstreamReply], None]
) -> Exchange[T]:
    """Run ``side`` while ``main`` runs; ``main``'s result once both have ended.

    For work the next step needs anyway (a zone's keys, fetched while its
    servers are asked the question): waiting for both costs no more than
    fetching it afterwards would, and usually one round trip less.
    """
    exchanges: dict[bool, Exchange[object]] = {True: main, False: side}
    results = yield from first_usable(exchanges, usable=lambda _: False, late=late)
    return cast(T, results[True])


def _run(child: _Child[T], sent: Sent) -> Exchange[None]:
    """Step ``child`` with ``sent`` until it waits or returns, passing its other steps up."""
    child.waiting = None
    while True:
        try:
            step = child.exchange.send(sent)
        except StopIteration as stop:
            child.done, child.result = True, stop.value
            return
        if isinstance(step, Await):
            child.waiting, child.bare = step, False
            return
        if isinstance(step, Launch | UpstreamQuery):
            query = step.query if isinstance(step, Launch) else step
            launched = yield Launch(query)
            if not isinstance(launched, Launched):
                raise DriverMisuse(f"the driver did not start the query to {query.address}")
            child.attempts.add(launched.attempt)
            if isinstance(step, UpstreamQuery):
                child.waiting, child.bare = Await(frozenset({launched.attempt}), math.inf), True
                return
            sent = launched
        elif isinstance(step, Abandon):
            yield step
            child.attempts -= step.attempts
            sent = None
        else:
            assert isinstance(step, Pause)
            yield step
            sent = None


def _next_event(waiting: list[_Child[T]]) -> Exchange[list[tuple[_Child[T], Sent]]]:
    """Wait for what the ``waiting`` children wait for; who to resume, with what."""
    event = yield Await(
        frozenset[int]().union(*(child.waiting.attempts for child in waiting if child.waiting)),
        min(child.waiting.deadline for child in waiting if child.waiting),
    )
    if isinstance(event, Tick):
        return [
            (child, event)
            for child in waiting
            if child.waiting is not None and child.waiting.deadline <= event.now
        ]
    if isinstance(event, Landed):
        for child in waiting:
            if child.waiting is not None and event.attempt in child.waiting.attempts:
                child.attempts.discard(event.attempt)
                return [(child, event.result if child.bare else event)]
    raise DriverMisuse("the driver sent back no attempt of these sub-resolutions")


def _close(children: Collection[_Child[T]]) -> None:
    for child in children:
        if not child.done:
            child.exchange.close()


def _stop(
    children: Collection[_Child[T]], late: Callable[[UpstreamReply], None]
) -> Exchange[None]:
    """Close the children still running and abandon their attempts in flight."""
    _close(children)
    attempts = frozenset[int]().union(*(child.attempts for child in children))
    if attempts:
        yield Abandon(attempts, late)
