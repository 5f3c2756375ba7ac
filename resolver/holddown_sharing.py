"""Hold-downs shared by the workers of a host: one bad server learned once.

A server that sent bogus data is held down for its zone (``selection``).
With ``--workers N`` each worker has its own server selection, so without
sharing, every worker would have to be served the bad data itself (and
strike the server, and pay a validation failure and a retry for a client)
before it stops asking that server. The supervisor therefore asks every
worker for its hold-downs (``holddown list``) every ``SYNC_INTERVAL``
seconds and tells each worker of the ones it lacks, or holds for a shorter
time, with ``holddown add``; the worker imposes it without a new strike
(``ServerSelection.impose_holddown``), keeping the learner's strikes so the
next hold-down doubles the same way in every worker.

Why polling by the supervisor, and not the workers' LMDB map: the map is
an optional cache (``[workers] shared_cache``, replaced by a Redis tier,
emptied when full), and a hold-down is not cache data: it must not vanish
with a ``flush all`` or a full map. The supervisor already talks to every
worker over its channel (heartbeats, ctl commands), and a worker that was
restarted gets the hold-downs in force at the next round. A ``holddown
clear`` is forwarded while no round is running (``workers.Supervisor``
holds one lock for both), so a round cannot bring back what was just lifted.

Knot Resolver's workers share what they learn of servers for the same
reason: its server selection keeps each address's RTT and timeout state in
the LMDB cache all workers map (``lib/selection.c``, ``get_rtt_state`` and
``put_rtt_state``); Unbound's threads share one infrastructure cache. Pure: the Trio loop is
``workers.Supervisor.share_holddowns``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolver.errors import HoldfastError
from resolver.routes import RouteError, parse_duration

#: Seconds between two rounds: how long the other workers may still ask a
#: server one of them has just held down.
SYNC_INTERVAL = 1.0
#: A worker's hold-down shorter than another's by more than this is
#: lengthened (listings round the time left to a second).
_SLACK = 2.0


class HoldDownOrderError(HoldfastError):
    """A ``holddown add`` command that cannot be carried out."""


@dataclass(frozen=True, slots=True)
class HoldDownOrder:
    """``holddown add ADDRESS ZONE --expires DURATION [--strikes N] [--reason TEXT]``."""

    address: str
    zone: str
    seconds: float
    strikes: int = 1
    reason: str = "held down by the operator"

    def words(self) -> list[str]:
        """The ctl command that gives this order."""
        return ["holddown", "add", self.address, self.zone, "--expires", f"{self.seconds:.3f}",
                "--strikes", str(self.strikes), "--reason", self.reason]


def parse_order(words: Sequence[str]) -> HoldDownOrder:
    """The order in ``holddown add``'s words after ``add``.

    Raises:
        HoldDownOrderError: missing or unknown options, a bad duration or strike count.
    """
    if len(words) < 4 or len(words) % 2:
        raise HoldDownOrderError(
            "usage: holddown add ADDRESS ZONE --expires DURATION [--strikes N] [--reason TEXT]")
    address, zone, *rest = words
    options = dict(zip(rest[::2], rest[1::2], strict=True))
    unknown = set(options) - {"--expires", "--strikes", "--reason"}
    if unknown or "--expires" not in options:
        raise HoldDownOrderError(f"holddown add needs --expires; unknown: {sorted(unknown)}")
    try:
        seconds = parse_duration(options["--expires"])
        strikes = int(options.get("--strikes", "1"))
    except (RouteError, ValueError) as error:
        raise HoldDownOrderError(f"holddown add: {error}") from None
    if not 1 <= strikes <= 64:
        raise HoldDownOrderError(f"holddown add: --strikes {strikes} is not within 1..64")
    if "--reason" in options:
        return HoldDownOrder(address, zone, seconds, strikes, options["--reason"])
    return HoldDownOrder(address, zone, seconds, strikes)


def orders(listings: Mapping[int, Sequence[Mapping[str, Any]]]) -> dict[int, list[HoldDownOrder]]:
    """What each worker must be told, from every worker's ``holddown list``.

    For each (address, zone) held down by some worker, the longest hold-down
    (most strikes on a tie) goes to every worker that does not hold it or
    holds it for ``_SLACK`` seconds less. Malformed listings are ignored.
    """
    best: dict[tuple[str, str], HoldDownOrder] = {}
    held: dict[int, dict[tuple[str, str], float]] = {}
    for index, listing in listings.items():
        mine = held.setdefault(index, {})
        for item in listing:
            try:
                order = HoldDownOrder(str(item["address"]), str(item["zone"]),
                                      float(item["remaining_seconds"]), int(item["strikes"]),
                                      str(item["reason"]))
            except (KeyError, TypeError, ValueError):
                continue
            if order.seconds <= 0:
                continue
            key = (order.address, order.zone)
            mine[key] = order.seconds
            known = best.get(key)
            if known is None or (order.seconds, order.strikes) > (known.seconds, known.strikes):
                best[key] = order
    wanted = {
        index: [order for key, order in best.items()
                if held[index].get(key, 0.0) < order.seconds - _SLACK]
        for index in listings
    }
    return {index: orders for index, orders in wanted.items() if orders}
