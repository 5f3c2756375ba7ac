"""DNSSEC validation for Holdfast: a pure library with no I/O.

It takes RRsets, keys and an explicit time and returns verdicts. It imports
dnspython and cryptography, never Trio and never the ``resolver`` package.
The validation logic itself arrives with the DNSSEC issue; today this package
holds the vocabulary the rest of the resolver already speaks (``Security``).
"""

from dnssec.status import Security as Security
