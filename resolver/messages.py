"""Client-facing DNS messages: parse a query, render a response.

This is the first and the last step of a client's query. The server hands each
received packet to ``parse_query``, which either returns a ``ClientQuery``,
raises ``DropQuery`` (not worth an answer) or raises ``QueryRejected`` (answer
with an error rcode, rendered by ``render_error``). Once the resolver has an
``Outcome``, ``render_response`` turns it into this client's response: the
client's ID, flags and EDNS size, our RA/AD policy, its Extended DNS Errors.

It is pure (no Trio, no I/O) so every rule here is tested without sockets.
Reading and rendering go through ``client_wire`` for the common case and
dnspython for the rest; the whole response is built by
``render_response`` from ``ClientQuery`` + ``Outcome``, which is the seam
where a wire-bytes fast path for cache hits can later slot in.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from dnssec.status import Security
from resolver.client_wire import ReadQuery, read_query
from resolver.client_wire import render_response as render_wire
from resolver.errors import HoldfastError, QueryError
from resolver.question import ExtendedError, Outcome, Question

#: Smallest response size every DNS client accepts over UDP (RFC 1035 4.2.1).
MIN_UDP_SIZE = 512
#: The EDNS UDP payload size we advertise and never exceed (DNS flag day 2020).
OUR_UDP_PAYLOAD = 1232
#: The largest message two-byte TCP framing can carry (RFC 1035 4.2.2).
TCP_SIZE_LIMIT = 65535
#: TTL of the synthesised RFC 8482 answer to QTYPE ANY (section 4.2 leaves it
#: to the implementer; an hour keeps ANY-happy clients from coming back soon).
ANY_TTL = 3600

_HEADER = struct.Struct("!HHHHHH")
#: Header and EDNS flag bits as plain ints: ``int & IntFlag`` runs the enum's
#: Python code, several times per query on the hot path.
_QR, _AA, _TC, _RD, _RA, _AD, _CD, _DO = (
    int(flag)
    for flag in (
        dns.flags.QR, dns.flags.AA, dns.flags.TC, dns.flags.RD, dns.flags.RA, dns.flags.AD,
        dns.flags.CD, dns.flags.DO,
    )
)

#: Meta-TYPEs that exist only as message machinery (RFC 6895 3.1): asking for
#: them is malformed.
_UNASKABLE_TYPES = frozenset(
    {dns.rdatatype.NONE, dns.rdatatype.OPT, dns.rdatatype.TKEY, dns.rdatatype.TSIG}
)
#: Zone transfers are an authoritative server's job; a recursive resolver has no
#: zones to transfer, so this is a policy refusal (REFUSED), not an unknown kind
#: of request (NOTIMP), matching what other recursive resolvers answer.
_TRANSFER_TYPES = frozenset({dns.rdatatype.AXFR, dns.rdatatype.IXFR})
#: The obsolete mail-agent QTYPEs of RFC 883: askable, but not implemented.
_OBSOLETE_TYPES = frozenset({dns.rdatatype.MAILA, dns.rdatatype.MAILB})
#: The rcode that answers each QTYPE we do not resolve.
_REFUSED_TYPES = {
    **dict.fromkeys(_UNASKABLE_TYPES, dns.rcode.FORMERR),
    **dict.fromkeys(_TRANSFER_TYPES, dns.rcode.REFUSED),
    **dict.fromkeys(_OBSOLETE_TYPES, dns.rcode.NOTIMP),
}

_ANY_HINFO = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.HINFO, '"RFC8482" ""')


class DropQuery(HoldfastError):
    """A packet that gets no answer at all (too short, or itself a response)."""


@dataclass(frozen=True, slots=True)
class EchoedQuestion:
    """The question exactly as the client sent it, in whatever class."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    rdclass: dns.rdataclass.RdataClass


@dataclass(frozen=True, slots=True)
class Echo:
    """What any reply copies from its query, even a query we reject.

    ``question`` is None when the question section did not parse (or there was
    not exactly one question); ``edns`` is whether the query carried an OPT
    record we could read, and so whether the reply carries one.
    """

    id: int
    opcode: dns.opcode.Opcode
    rd: bool
    cd: bool
    question: EchoedQuestion | None = None
    edns: bool = False
    dnssec_ok: bool = False
    #: The TSIG record a reply to a signed query carries: unsigned, error BADKEY.
    tsig: dns.rrset.RRset | None = None


class QueryRejected(QueryError):
    """A query answered with an error rcode instead of being resolved.

    Attributes:
        echo: the parts of the query the error reply copies.
        errors: Extended DNS Errors to attach (when the client sent EDNS).
    """

    def __init__(
        self, rcode: int, reason: str, *, echo: Echo, errors: tuple[ExtendedError, ...] = ()
    ) -> None:
        super().__init__(rcode, reason)
        self.echo = echo
        self.errors = errors

    def instead(
        self, rcode: int, reason: str, errors: tuple[ExtendedError, ...] = ()
    ) -> QueryRejected:
        """The same query rejected for another reason (e.g. the ACL trumps FORMERR)."""
        return QueryRejected(rcode, reason, echo=self.echo, errors=errors)


@dataclass(frozen=True, slots=True)
class ClientQuery:
    """A well-formed query from a client, ready to resolve.

    ``rd``/``cd``/``ad`` are the header bits as sent; ``payload`` is the
    client's EDNS UDP size (at least 512; 512 without EDNS). The client's EDNS
    options are not kept: nothing of them is echoed.
    """

    id: int
    question: Question
    rd: bool = True
    cd: bool = False
    ad: bool = False
    dnssec_ok: bool = False
    edns: bool = False
    payload: int = MIN_UDP_SIZE

    @property
    def is_any(self) -> bool:
        """Whether this asks QTYPE ANY, answered per RFC 8482 without resolving."""
        return self.question.rdtype == dns.rdatatype.ANY

    @property
    def echo(self) -> Echo:
        """What a reply to this query copies from it."""
        return Echo(
            id=self.id,
            opcode=dns.opcode.QUERY,
            rd=self.rd,
            cd=self.cd,
            question=EchoedQuestion(self.question.name, self.question.rdtype, dns.rdataclass.IN),
            edns=self.edns,
            dnssec_ok=self.dnssec_ok,
        )

    def reject(
        self, rcode: int, reason: str, errors: tuple[ExtendedError, ...] = ()
    ) -> QueryRejected:
        """Turn this query into a ``QueryRejected`` answered with ``rcode``."""
        return QueryRejected(rcode, reason, echo=self.echo, errors=errors)


def parse_query(wire: bytes) -> ClientQuery:
    """Parse a client's packet into a ``ClientQuery``.

    Raises:
        DropQuery: shorter than a header, or a response (QR=1).
        QueryRejected: NOTIMP for an opcode other than QUERY or an obsolete
            QTYPE; FORMERR for QDCOUNT != 1, anything unparsable after the
            header (a TSIG record out of place included) or a meta-TYPE as
            QTYPE; NOTAUTH with TSIG error BADKEY for a TSIG-signed query
            (``_unknown_key``); BADVERS for EDNS version != 0 (RFC 6891
            6.1.3); REFUSED for a class other than IN or AXFR/IXFR.
    """
    if len(wire) < _HEADER.size:
        raise DropQuery("shorter than a DNS header")
    query_id, flags, qdcount, _, _, _ = _HEADER.unpack_from(wire)
    if flags & _QR:
        raise DropQuery("a response, not a query")
    echo = Echo(
        id=query_id,
        opcode=dns.opcode.from_flags(flags),
        rd=bool(flags & _RD),
        cd=bool(flags & _CD),
    )
    if echo.opcode != dns.opcode.QUERY:
        raise QueryRejected(
            dns.rcode.NOTIMP, f"opcode {dns.opcode.to_text(echo.opcode)}", echo=echo
        )
    if qdcount != 1:
        raise QueryRejected(dns.rcode.FORMERR, f"{qdcount} questions", echo=echo)
    sent = read_query(wire) or _read_by_dnspython(wire, echo)
    edns = sent.opt_ttl is not None
    ednsflags = sent.opt_ttl or 0
    dnssec_ok = bool(ednsflags & _DO)
    echo = Echo(
        id=echo.id,
        opcode=echo.opcode,
        rd=echo.rd,
        cd=echo.cd,
        question=EchoedQuestion(sent.name, sent.rdtype, sent.rdclass),
        edns=edns,
        dnssec_ok=dnssec_ok,
    )
    if sent.tsig is not None:
        raise _unknown_key(sent.tsig, echo)
    version = (ednsflags & 0xFF0000) >> 16
    if edns and version != 0:
        raise QueryRejected(dns.rcode.BADVERS, f"EDNS version {version}", echo=echo)
    _check_question(sent.rdtype, sent.rdclass, echo)
    return ClientQuery(
        id=query_id,
        question=Question(sent.name, sent.rdtype),
        rd=echo.rd,
        cd=echo.cd,
        ad=bool(flags & _AD),
        dnssec_ok=dnssec_ok,
        edns=edns,
        payload=max(sent.payload, MIN_UDP_SIZE) if edns else MIN_UDP_SIZE,
    )


def _read_by_dnspython(wire: bytes, echo: Echo) -> ReadQuery:
    """What ``read_query`` reads, for any query: read by ``dns.message.from_wire``.

    Raises:
        QueryRejected: FORMERR, the query does not parse.
    """
    try:
        # keyring=False: read a TSIG record without checking it (we have no
        # keys); by default dnspython raises on any signed message.
        message = dns.message.from_wire(wire, keyring=False)
    # dnspython reports malformed input as DNSException, ValueError (bad
    # option or rdata values) or UnicodeError (names in EDNS options).
    except (dns.exception.DNSException, ValueError) as error:
        raise QueryRejected(
            dns.rcode.FORMERR, f"unparsable: {type(error).__name__}", echo=echo
        ) from error
    sent = message.question[0]
    opt_ttl = message.ednsflags if message.opt is not None else None
    return ReadQuery(sent.name, sent.rdtype, sent.rdclass, opt_ttl, message.payload, message.tsig)


def _unknown_key(tsig: dns.rrset.RRset, echo: Echo) -> QueryRejected:
    """The answer to a TSIG-signed query: we share no key with anyone.

    RFC 8945 section 5.2.1: a server that does not recognise the key "MUST
    generate an error response with RCODE 9 (NOTAUTH) and TSIG ERROR 17
    (BADKEY)", and section 5.3.2: that response is unsigned (an empty MAC),
    its TSIG record otherwise the request's. Answering the query unsigned
    instead would give a client that asked for authenticated data an
    unauthenticated answer; section 5.5's exception (pass the TSIG on
    unchanged) is for forwarders, and we answer from our own resolution.
    """
    (signature,) = tsig
    unsigned = signature.replace(mac=b"", error=dns.rcode.BADKEY, other=b"")
    reply_tsig = dns.rrset.from_rdata(tsig.name, 0, unsigned)
    reason = f"TSIG key {tsig.name} unknown"
    return QueryRejected(dns.rcode.NOTAUTH, reason, echo=replace(echo, tsig=reply_tsig))


def _check_question(
    rdtype: dns.rdatatype.RdataType, rdclass: dns.rdataclass.RdataClass, echo: Echo
) -> None:
    """Reject classes and QTYPEs a recursive resolver does not resolve."""
    if rdclass != dns.rdataclass.IN:
        reason = f"class {dns.rdataclass.to_text(rdclass)}"
        raise QueryRejected(dns.rcode.REFUSED, reason, echo=echo)
    rcode = _REFUSED_TYPES.get(rdtype)
    if rcode is not None:
        raise QueryRejected(rcode, f"QTYPE {dns.rdatatype.to_text(rdtype)}", echo=echo)


def udp_size_limit(query: ClientQuery, max_udp_size: int = OUR_UDP_PAYLOAD) -> int:
    """The largest UDP response for ``query``: its payload, capped at ours, at least 512.

    ``max_udp_size`` is ours (``[server] max_udp_size``, Unbound's
    max-udp-size, Knot Resolver's ``net.bufsize``): 1232 unless the operator
    raised it, as both peers' defaults are since DNS flag day 2020.
    """
    return max(MIN_UDP_SIZE, min(query.payload, max_udp_size))


def render_response(query: ClientQuery, outcome: Outcome, *, max_size: int) -> bytes:
    """Render ``outcome`` as the response to ``query``.

    RA is always set, AA only for an ``authoritative`` outcome; RD and CD
    are copied; AD is set only for a SECURE outcome asked with AD or DO
    (RFC 6840 5.7). A BOGUS outcome is a
    SERVFAIL with its Extended DNS Errors, unless the client set CD: then it
    gets the data, without AD (RFC 4035 3.2.2). With DO the RRSIGs and the
    denial proof are included (RFC 4035 3.2.1). The OPT record (and with it
    the Extended DNS Errors) appears only when the client sent EDNS. Nothing
    but OPT goes into the additional section. A response larger than
    ``max_size`` is replaced by a truncated one (TC=1, question only).
    """
    if outcome.security is Security.BOGUS and not query.cd:
        return _render(query.echo, dns.rcode.SERVFAIL, outcome.errors, max_size=max_size)
    ad = outcome.security is Security.SECURE and (query.ad or query.dnssec_ok)
    answer: Sequence[dns.rrset.RRset] = outcome.answer
    authority: Sequence[dns.rrset.RRset] = outcome.authority
    if query.dnssec_ok:
        answer = _with_signatures(outcome.answer, outcome.signatures)
        authority = (*outcome.authority, *outcome.proof)
    return _render(
        query.echo,
        outcome.rcode,
        outcome.errors,
        max_size=max_size,
        ad=ad,
        aa=outcome.authoritative,
        answer=answer,
        authority=authority,
    )


def _with_signatures(
    rrsets: tuple[dns.rrset.RRset, ...], signatures: tuple[dns.rrset.RRset, ...]
) -> list[dns.rrset.RRset]:
    """Each RRset followed by the RRSIGs that cover it."""
    ordered: list[dns.rrset.RRset] = []
    for rrset in rrsets:
        ordered.append(rrset)
        ordered.extend(
            sig for sig in signatures if sig.name == rrset.name and sig.covers == rrset.rdtype
        )
    return ordered


def render_truncated(query: ClientQuery) -> bytes:
    """An empty NOERROR response with TC=1: the client is to ask again over TCP
    (a policy's ``tc`` action, ``policy.py``)."""
    return _truncated(query.echo, dns.rcode.NOERROR, ad=False, max_size=MIN_UDP_SIZE)


def render_error(error: QueryRejected, *, max_size: int) -> bytes:
    """Render the error reply to a rejected query (no question if it did not parse)."""
    return _render(error.echo, error.rcode, error.errors, max_size=max_size)


def render_echo_answer(echo: Echo, answer: dns.rrset.RRset, *, max_size: int) -> bytes:
    """A NOERROR response to ``echo`` carrying ``answer``, for a question of another class
    than IN (the CHAOS identity names, ``identity.py``): it has no ``ClientQuery``."""
    return _render(echo, dns.rcode.NOERROR, (), max_size=max_size, answer=(answer,))


def render_any_response(query: ClientQuery) -> bytes:
    """Answer QTYPE ANY with the RFC 8482 (4.2) synthesised HINFO, without resolving.

    The answer is far below 512 octets even for a 255-octet name.
    """
    hinfo = dns.rrset.from_rdata(query.question.name, ANY_TTL, _ANY_HINFO)
    outcome = Outcome(rcode=dns.rcode.NOERROR, answer=(hinfo,))
    return render_response(query, outcome, max_size=MIN_UDP_SIZE)


def _render(
    echo: Echo,
    rcode: int,
    errors: Sequence[ExtendedError],
    *,
    max_size: int,
    ad: bool = False,
    aa: bool = False,
    answer: Sequence[dns.rrset.RRset] = (),
    authority: Sequence[dns.rrset.RRset] = (),
) -> bytes:
    """Build and render a response; if it exceeds ``max_size``, the TC=1 stand-in.

    The common response (a question, no TSIG, a 4-bit rcode) is written by
    ``client_wire.render_response``; the rest, and a response too big for
    ``max_size``, by dnspython.
    """
    if echo.question is not None and echo.tsig is None and rcode <= 0xF:
        sent = echo.question
        opt = None
        if echo.edns:
            opt = (OUR_UDP_PAYLOAD, _DO if echo.dnssec_ok else 0, _options(errors))
        wire = render_wire(
            (echo.id, _flags(echo, ad=ad, aa=aa) | rcode),
            (sent.name, sent.rdtype, sent.rdclass),
            answer,
            authority,
            opt,
            max_size=max_size,
        )
        if wire is not None:
            return wire
    message = _message(echo, rcode, errors, ad=ad, aa=aa)
    message.answer.extend(answer)
    message.authority.extend(authority)
    try:
        return message.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        return _truncated(echo, rcode, ad=ad, max_size=max_size)


def _truncated(echo: Echo, rcode: int, *, ad: bool, max_size: int) -> bytes:
    """The header and question only, with TC=1."""
    truncated = _message(echo, rcode, (), ad=ad)
    truncated.flags |= _TC
    return truncated.to_wire(max_size=max_size)


def _message(
    echo: Echo, rcode: int, errors: Iterable[ExtendedError], *, ad: bool, aa: bool = False
) -> dns.message.Message:
    """A response header, question and OPT record for ``echo``, sections empty."""
    message = dns.message.Message(id=echo.id)
    message.flags = _flags(echo, ad=ad, aa=aa)
    if echo.question is not None:
        sent = echo.question
        message.question.append(dns.rrset.RRset(sent.name, sent.rdclass, sent.rdtype))
    if echo.tsig is not None:
        message.tsig = echo.tsig  # rendered as it is: dnspython signs only after use_tsig()
    if echo.edns:
        message.use_edns(
            0,
            _DO if echo.dnssec_ok else 0,
            payload=OUR_UDP_PAYLOAD,
            options=_options(errors),
        )
    elif rcode > 0xF:
        # An extended rcode needs an OPT record the client cannot read.
        rcode = dns.rcode.SERVFAIL
    message.set_rcode(dns.rcode.Rcode.make(rcode))
    return message


def _flags(echo: Echo, *, ad: bool, aa: bool) -> int:
    """A response's header flags, rcode aside: QR, RA, the query's opcode, RD and CD."""
    flags = _QR | _RA | dns.opcode.to_flags(echo.opcode)
    if aa:
        flags |= _AA
    if echo.rd:
        flags |= _RD
    if echo.cd:
        flags |= _CD
    if ad:
        flags |= _AD
    return flags


def _options(errors: Iterable[ExtendedError]) -> list[dns.edns.Option]:
    """The EDNS options carrying ``errors`` (RFC 8914)."""
    return [
        dns.edns.EDEOption(dns.edns.EDECode.make(error.code), error.text or None)
        for error in errors
    ]
