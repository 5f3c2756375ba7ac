"""A full RFC 5011 KSK rollover of a lab zone, with the resolver validating throughout.

The resolver has one anchor: ``ecdsa.org.``, managed in a state file (the
lab root stays unanchored, so only the rolled zone is secure and nothing
depends on the root's signatures over two simulated months). The zone
publishes a second key, waits out the add hold-down, signs with the new
key, revokes the old one and drops it; the fake wall clock moves an hour
(the active refresh interval for a one-hour DNSKEY TTL) at a time, a client
asks ``www.ecdsa.org`` at every step, and every answer must be secure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import dns.flags
import dns.name
import dns.rcode
import trio

from dnssec.anchorstate import read_state, render, write_atomically
from dnssec.rfc5011 import DAY, KeyState, ManagedKey, TrustPoint
from resolver.anchor_refresh import ask_dnskey, install
from resolver.clock import FakeClock
from resolver.lab import Lab
from resolver.lab.drill import ask, lab_resolver
from resolver.lab.rollover import revoked, rolled_zone
from resolver.lab.signing import Window, ZoneKey, zone_key
from resolver.lab.zones import StaticZone
from resolver.question import Outcome

ZONE = dns.name.from_text("ecdsa.org.")
#: Two days: a refresh a day.
DNSKEY_TTL = 2 * DAY
OLD = zone_key(ZONE, 13)
NEW = zone_key(ZONE, 13, variant="rollover-2")


class Rollover:
    """The lab, the resolver and the clock of one rollover."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.lab = Lab.build(self.clock)
        base = self.lab.zone(ZONE)
        assert isinstance(base, StaticZone)
        self.source = base.source
        self.state = tmp_path / "managed.keys"
        start = TrustPoint(ZONE, (ManagedKey(
            dns.rdatatype.DNSKEY, OLD.dnskey.to_digestable(), KeyState.VALID),))
        write_atomically(self.state, render([start]))
        self.publish(data_key=OLD, published=[OLD], signers=[OLD])
        self.resolver = lab_resolver(self.lab, self.clock, tmp_path, overrides={
            "dnssec.trust_anchors": [], "dnssec.trust_anchor_file": str(self.state)})
        self.servfails = 0
        self.answers = 0
        self.phase: tuple[ZoneKey, Sequence[ZoneKey], Sequence[ZoneKey]] = (OLD, [OLD], [OLD])
        self.signed_at = self.clock.wall()

    def publish(
        self, *, data_key: ZoneKey, published: Sequence[ZoneKey], signers: Sequence[ZoneKey]
    ) -> None:
        self.phase = (data_key, published, signers)
        self.signed_at = self.clock.wall()
        self.lab.replace_zone(rolled_zone(
            self.source, data_key=data_key, published=published, signers=signers,
            window=Window.valid(self.clock.wall()), ttl=DNSKEY_TTL))

    async def run_for(self, seconds: float) -> None:
        """Days of simulated time: refresh when due, one client question each day."""
        maintainer = self.resolver.maintainer
        assert maintainer is not None
        end = self.clock.wall() + seconds
        while self.clock.wall() < end:
            self.clock.advance(DAY)
            if self.clock.wall() - self.signed_at > 5 * DAY:  # the signer re-signs
                data_key, published, signers = self.phase
                self.publish(data_key=data_key, published=published, signers=signers)

            async def fetch(zone: dns.name.Name) -> Outcome:
                return await ask_dnskey(self.resolver, zone)

            await maintainer.refresh_due(fetch, lambda anchors: install(self.resolver, anchors))
            reply = await ask(self.resolver, "www.ecdsa.org.")
            self.answers += 1
            if reply.rcode() == dns.rcode.SERVFAIL or not reply.flags & dns.flags.AD:
                self.servfails += 1

    def states(self) -> dict[int, KeyState]:
        """Key tag (as the key is now) -> state, as the state file says."""
        (point,) = read_state(self.state)
        return {key.tag: key.state for key in point.keys}


async def test_a_full_ksk_rollover_keeps_every_answer_secure(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    roll = Rollover(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(roll.resolver.recursor.run)
        await roll.run_for(DAY)
        assert roll.states() == {OLD.tag: KeyState.VALID}

        # 1. Publish the new key, signed by the old one: pending for 30 days.
        roll.publish(data_key=OLD, published=[OLD, NEW], signers=[OLD])
        await roll.run_for(29 * DAY)
        assert roll.states() == {OLD.tag: KeyState.VALID, NEW.tag: KeyState.ADDPEND}
        await roll.run_for(3 * DAY)
        assert roll.states() == {OLD.tag: KeyState.VALID, NEW.tag: KeyState.VALID}

        # 2. Switch: the new key signs the keys and the data.
        roll.publish(data_key=NEW, published=[OLD, NEW], signers=[NEW])
        await roll.run_for(2 * DAY)

        # 3. Revoke the old key (it signs its own revocation).
        old_revoked = revoked(OLD)
        roll.publish(data_key=NEW, published=[old_revoked, NEW], signers=[old_revoked, NEW])
        await roll.run_for(3 * DAY)
        assert roll.states() == {old_revoked.tag: KeyState.REVOKED, NEW.tag: KeyState.VALID}
        assert old_revoked.tag != OLD.tag  # the tag is computed with the bit set

        # 4. Remove it: forgotten after the remove hold-down.
        roll.publish(data_key=NEW, published=[NEW], signers=[NEW])
        await roll.run_for(33 * DAY)
        assert roll.states() == {old_revoked.tag: KeyState.REMOVED, NEW.tag: KeyState.VALID}
        nursery.cancel_scope.cancel()
    assert roll.answers > 70
    assert roll.servfails == 0
    # The old key is no anchor any more: a zone still signed by it alone is bogus.
    anchors = roll.resolver.anchors.rrsets
    assert [r.name for r in anchors] == [ZONE]
    assert {rdata.to_digestable() for rdata in anchors[0]} == {NEW.dnskey.to_digestable()}
