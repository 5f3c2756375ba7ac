"""Holdfast: a resilient, DNSSEC-validating recursive resolver on Trio.

A client's query flows through these modules, in this order:

1. ``server`` (Trio) receives it on UDP or TCP; ``messages`` parses it into a
   ``ClientQuery`` or rejects it with the right rcode.
2. ``resolve`` shares one resolution among identical in-flight questions and
   runs it through ``driver`` (Trio), which performs the I/O that the
   ``iterator`` (a sans-I/O generator) asks for via ``transport``.
3. The ``iterator`` consults the ``cache``, walks down from the root hints,
   picks servers with ``selection`` and ends with an ``Outcome``.
4. ``messages`` renders the ``Outcome`` into the client's response.
"""

import dnssec as _dnssec  # noqa: F401  (first: its warning filter, see dnssec/__init__)

__version__ = "0.1.0"
