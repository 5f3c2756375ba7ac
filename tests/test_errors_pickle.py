"""Every Holdfast exception survives pickling: some cross a process boundary.

A local-root candidate is checked in a worker process and its refusal comes
back pickled; ``CandidateRejected(kind, message)`` could not be unpickled,
so every refusal was reported as "the worker died: terminated abruptly"
(issue 16). ``HoldfastError.__reduce__`` fixes it for every subclass; this
test finds them all, so a new class with its own ``__init__`` needs a sample
here.
"""

from __future__ import annotations

import importlib
import pickle
import pkgutil
import types

import dns.name
import dns.rdatatype
import pytest

import dnssec
import resolver
import rootzone
from dnssec.errors import Bogus, HoldfastError, RecordFileError
from dnssec.rfc5011 import TrustPoint
from dnssec.status import ExtendedError
from resolver.assemble import Chain
from resolver.errors import ConfigError, QueryError, UpstreamError
from resolver.messages import Echo, QueryRejected
from resolver.question import Question
from rootzone.errors import CandidateRejected
from rootzone.zonefile import ZoneFileError


def _all_subclasses() -> list[type[HoldfastError]]:
    for package in (dnssec, rootzone, resolver):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    found: list[type[HoldfastError]] = []
    pending = [HoldfastError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _sample(cls: type[HoldfastError]) -> HoldfastError:
    """An instance of ``cls`` built through its own ``__init__``."""
    echo = Echo(id=7, opcode=0, rd=True, cd=False)  # type: ignore[arg-type]
    for base, make in (
        (CandidateRejected, lambda c: c("zonemd", "the digest does not match")),
        (ZoneFileError, lambda c: c("bad TTL", source="root.zone", line=3, token="1x")),
        (RecordFileError, lambda c: c("no DS", source="anchor.txt", line=1)),
        (QueryRejected, lambda c: c(5, "ACL", echo=echo, errors=(ExtendedError(18, "x"),))),
        (QueryError, lambda c: c(1, "two questions")),
        (UpstreamError, lambda c: c("192.0.2.1", "no matching reply")),
        (ConfigError, lambda c: c("must be positive", source="holdfast.toml", line=9)),
    ):
        if issubclass(cls, base):
            instance: HoldfastError = make(cls)
            return instance
    if any("__init__" in vars(klass) for klass in cls.__mro__ if issubclass(klass, HoldfastError)):
        return _own_init_sample(cls)
    return cls("what went wrong")


def _own_init_sample(cls: type[HoldfastError]) -> HoldfastError:
    """Classes with their own ``__init__`` outside the families above, by name."""
    name = cls.__qualname__
    if name == "ResolutionFailed":
        return cls(22, "no reachable authority")  # type: ignore[call-arg]
    if name == "AliasLoop":
        chain = Chain(Question(dns.name.from_text("a.loop."), dns.rdatatype.A), 8)
        return cls(0, "alias loop at a.loop.", chain)  # type: ignore[call-arg]
    if name == "FileRefused":
        return cls("/etc/holdfast/holdfast.toml", "not a regular file")  # type: ignore[call-arg]
    if name == "_SentBogus":
        evidence = types.SimpleNamespace(zone="example.")
        return cls(Bogus("bad RRSIG"), evidence, "192.0.2.1")  # type: ignore[call-arg]
    if name == "NotValidated":
        point = TrustPoint(dns.name.root, ())
        return cls("no RRSIG by a trusted key", point)  # type: ignore[call-arg]
    pytest.fail(f"{cls.__module__}.{name} has its own __init__: add a sample to this test")


CLASSES = _all_subclasses()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_holdfast_error_survives_pickling(cls: type[HoldfastError]) -> None:
    error = _sample(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert copy.args == error.args
    assert str(copy) == str(error)
    # repr: attributes that are exceptions themselves compare by identity.
    assert repr(copy.__dict__) == repr(error.__dict__)


def test_the_refusal_keeps_its_kind() -> None:
    copy = pickle.loads(pickle.dumps(CandidateRejected("dnssec", "RRSIG over . SOA expired")))
    assert (copy.kind, str(copy)) == ("dnssec", "RRSIG over . SOA expired")


def test_bogus_keeps_its_code() -> None:
    assert pickle.loads(pickle.dumps(Bogus("x"))).error() == Bogus("x").error()
