"""Bounds on the cryptographic work one client query may cause.

Two published attacks make a validator spend CPU without limit on a single
answer: KeyTrap (CVE-2023-50387: many DNSKEYs sharing one key tag, many
RRSIGs, every pair tried) and the NSEC3 closest-encloser attack
(CVE-2023-50868: many NSEC3 hashes with many iterations). ``ValidationWork``
is the meter every check spends from; when it runs out the answer is treated
as bogus (a quick SERVFAIL), never as a stall. Knot Resolver allows 32
signature checks per query; Unbound and BIND cap keys per tag and NSEC3
calculations per step in the same spirit.

Counting checks is not enough: with the key sizes ``dnssec.signatures``
accepts, one check still costs from 0.01 ms (RSA-1024) to 0.5 ms (ECDSA
P-384), so 64 checks could hold the event loop for 30 ms. Each check is
also weighed (``verification_cost``, in RSA-2048 checks) against a
per-query cost budget, which bounds the CPU rather than the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dnssec.errors import ValidationWorkExceeded


@dataclass(frozen=True, slots=True)
class WorkLimits:
    """How much validation work is allowed (``[dnssec]`` in the config)."""

    #: Signature verifications for one client query, key fetches included.
    max_signatures_per_query: int = 64
    #: Signature verifications for one upstream response.
    max_signatures_per_response: int = 16
    #: DNSKEYs tried for one RRSIG whose key tag and algorithm they share.
    max_keys_per_tag: int = 4
    #: Weighed signature checks for one client query, in RSA-2048 (e = 65537)
    #: checks (~0.03 ms each): 256 is ~7 ms of verification, 14 ECDSA P-384
    #: checks, more than a cold chain of P-384 zones needs.
    max_signature_cost_per_query: int = 256
    #: NSEC3 iterations above this make a denial insecure (RFC 9276: 100).
    max_nsec3_iterations: int = 100
    #: Names hashed with NSEC3 parameters for one upstream response.
    max_nsec3_hashes_per_response: int = 64


class ValidationWork:
    """The meter for one client query; ``start_response`` resets the per-response part."""

    __slots__ = ("cost", "hashes", "limits", "response_signatures", "signatures")

    def __init__(self, limits: WorkLimits) -> None:
        self.limits = limits
        self.signatures = 0
        self.cost = 0
        self.response_signatures = 0
        self.hashes = 0

    def start_response(self) -> None:
        """Begin validating another upstream response."""
        self.response_signatures = 0
        self.hashes = 0

    @contextmanager
    def other_response(self) -> Iterator[None]:
        """Count work for another response (a DS or DNSKEY fetched on the way), then resume.

        A deep chain of trust fetched while one answer is validated must not
        use up that answer's per-response allowance; the per-query one still
        counts everything.
        """
        saved = (self.response_signatures, self.hashes)
        self.start_response()
        try:
            yield
        finally:
            self.response_signatures, self.hashes = saved

    def spend_signature(self, what: object, cost: int = 1) -> None:
        """Count one signature verification about to be made for ``what``.

        ``what`` names it in the error, by its ``str``: made only then.

        ``cost`` is its weight (``dnssec.signatures.verification_cost``).

        Raises:
            ValidationWorkExceeded: a per-response or per-query limit is reached.
        """
        limits = self.limits
        if self.response_signatures >= limits.max_signatures_per_response:
            raise ValidationWorkExceeded(
                f"{what}: more than {limits.max_signatures_per_response} "
                "signature checks in one response"
            )
        if self.signatures >= limits.max_signatures_per_query:
            raise ValidationWorkExceeded(
                f"{what}: more than {limits.max_signatures_per_query} "
                "signature checks for one query"
            )
        if self.cost + cost > limits.max_signature_cost_per_query:
            raise ValidationWorkExceeded(
                f"{what}: signature checks for one query would cost more than "
                f"{limits.max_signature_cost_per_query} RSA-2048 checks"
            )
        self.cost += cost
        self.signatures += 1
        self.response_signatures += 1

    def spend_hash(self, what: str) -> None:
        """Count one NSEC3 name hash about to be computed for ``what``.

        Raises:
            ValidationWorkExceeded: the per-response limit is reached.
        """
        if self.hashes >= self.limits.max_nsec3_hashes_per_response:
            raise ValidationWorkExceeded(
                f"{what}: more than {self.limits.max_nsec3_hashes_per_response} "
                "NSEC3 hashes in one response"
            )
        self.hashes += 1
