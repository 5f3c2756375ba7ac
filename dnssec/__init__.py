"""DNSSEC validation for Holdfast: a pure library with no I/O.

It takes RRsets, keys and an explicit time and returns verdicts. It imports
dnspython and cryptography, never Trio and never the ``resolver`` package.

Importing it first silences exactly one warning: cryptography 51 deprecates
DSA, and dnspython's ``dns.dnssecalgs.dsa`` touches ``dsa.DSAPublicKey`` when
``dns.dnssec`` is imported, which would print eight lines on every command.
The filter matches that message, that category and that module only; every
other warning still shows. DSA itself (algorithms 3 and 6) is not something
Holdfast validates with (RFC 8624: MUST NOT): a zone signed only with it is
insecure with EDE 1, whether or not cryptography still ships DSA. The
``resolver`` and ``rootzone`` packages import this one first for that reason,
and so do the processes they spawn.
"""

import warnings

from cryptography.utils import CryptographyDeprecationWarning

warnings.filterwarnings(
    "ignore",
    message="DSA is deprecated",
    category=CryptographyDeprecationWarning,
    module=r"dns\.dnssecalgs\.dsa",
)

from dnssec.status import Security as Security  # noqa: E402
