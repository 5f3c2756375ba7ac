"""The Holdfast lab: a deterministic, DNSSEC-signed DNS hierarchy on loopback.

The single fixture for the demo, the tests, the benchmarks and incident
drills. ``Lab.build`` signs the catalogue (see ``testdata/lab/README.md``);
``Lab.handle`` answers as any lab server, faults included; ``LabTransport``
puts it behind the resolver's ``Transport`` protocol in memory; ``serve_lab``
serves it on 127.53.0.0/16 with a control socket that ``send_lab_command``
talks to.
"""

from __future__ import annotations

from resolver.lab.catalogue import LabServer
from resolver.lab.control import send_lab_command
from resolver.lab.errors import LabError
from resolver.lab.faults import Fault, parse_fault
from resolver.lab.lab import Lab, LabReply
from resolver.lab.network import LabTransport
from resolver.lab.server import serve_lab

__all__ = [
    "Fault",
    "Lab",
    "LabError",
    "LabReply",
    "LabServer",
    "LabTransport",
    "parse_fault",
    "send_lab_command",
    "serve_lab",
]
