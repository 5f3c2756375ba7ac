"""TSIG-signed client queries: we share no keys, so NOTAUTH/BADKEY, unsigned (RFC 8945 5.2.1)."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import pytest

from resolver.messages import QueryRejected, parse_query, render_error

KEYRING = dns.tsigkeyring.from_text({"client-key.": "c2VjcmV0c2VjcmV0c2VjcmV0"})


def signed_query(*, edns: bool) -> dns.message.Message:
    query = dns.message.make_query("www.example.com.", "A", use_edns=0 if edns else False)
    query.use_tsig(KEYRING, keyname="client-key.")
    query.to_wire()  # signs it: sets the MAC and time
    return query


@pytest.mark.parametrize("edns", [False, True])
def test_a_query_signed_with_a_key_we_do_not_have_gets_notauth_badkey(edns: bool) -> None:
    query = signed_query(edns=edns)
    with pytest.raises(QueryRejected) as rejected:
        parse_query(query.to_wire())
    assert rejected.value.rcode == dns.rcode.NOTAUTH

    reply = dns.message.from_wire(render_error(rejected.value, max_size=512), keyring=False)
    assert (reply.id, reply.rcode()) == (query.id, dns.rcode.NOTAUTH)
    assert reply.question == query.question
    assert (reply.opt is not None) == edns
    assert reply.tsig is not None
    assert reply.tsig.name == query.keyname
    (sent,) = query.tsig
    (tsig,) = reply.tsig
    # Unsigned (RFC 8945 5.3.2): empty MAC; the request's algorithm, time and original ID.
    assert (tsig.error, tsig.mac, tsig.other) == (dns.rcode.BADKEY, b"", b"")
    assert (tsig.algorithm, tsig.time_signed, tsig.fudge) == (
        sent.algorithm,
        sent.time_signed,
        sent.fudge,
    )
    assert tsig.original_id == query.id


def test_the_client_that_signed_sees_badkey() -> None:
    """dnspython, as a client with the key, reports the error the reply carries."""
    query = signed_query(edns=True)
    with pytest.raises(QueryRejected) as rejected:
        parse_query(query.to_wire())
    wire = render_error(rejected.value, max_size=512)
    with pytest.raises(dns.tsig.PeerBadKey):
        dns.message.from_wire(wire, keyring=KEYRING, request_mac=query.mac)
