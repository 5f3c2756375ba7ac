"""Upstream queries per client query with 1, 2 and 3 instances behind dnsdist ``chashed``.

The point of routing by name (docs/operations.md, "Running several
instances") is that N instances cost about the upstream queries of one,
where spreading clients over them without regard to the name (DNS round
robin, an L4 balancer) costs up to N times as many, each instance learning
every popular name for itself. This runs, over the lab, for 1, 2 and 3 fresh
instances:

* ``chashed``: the same Zipf name mix (``bench.workloads.mixed``) through
  dnsdist with the documented configuration;
* ``spread``: the same mix sent by the client to the instances in turn,
  without dnsdist (the baseline routing by name is measured against);

and prints, for each, the upstream queries all instances sent per client
query, and the largest RRset cache of any instance (memory per instance).
A benchmark, not a test: the figures depend on the machine and its load.
Needs root (the lab on port 53 of a private namespace) and dnsdist.

    python -m bench.scaleout [--queries 1500] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query

from bench.processes import isolate
from bench.workloads import mixed
from resolver.control import request
from tests.scenarios.dnsdist import DNSDIST, Dnsdist
from tests.scenarios.processes import LabProcess, ResolverProcess, free_port, serving

#: Instances compared; dnsdist's ring needs no more to show the trend.
COUNTS = (1, 2, 3)
#: The hash seed of the bench's dnsdist (any fixed value).
PERTURBATION = 3_141_592_653
#: Seconds a client query may take, and tries, before it counts as lost.
QUERY_TIMEOUT = 5.0
TRIES = 2


def ask(server: tuple[str, int], name: str, rdtype: str) -> bool:
    """One client query over UDP; whether an answer came back."""
    query = dns.message.make_query(name, rdtype, want_dnssec=True)
    for _ in range(TRIES):
        try:
            dns.query.udp(query, server[0], port=server[1], timeout=QUERY_TIMEOUT)
        except dns.exception.Timeout:
            continue
        return True
    return False


def totals(instances: Sequence[ResolverProcess]) -> tuple[int, int]:
    """Upstream queries of all ``instances``, and the largest RRset cache among them."""
    upstream, largest = 0, 0
    for instance in instances:
        stats = request(instance.control, {"command": ["stats"]}, timeout=10)
        upstream += sum(stats["upstream"].get("queries", {}).values())
        largest = max(largest, int(stats["cache"]["rrset"]["entries"]))
    return upstream, largest


@contextmanager
def instances(lab: LabProcess, workdir: Path, count: int) -> Iterator[list[ResolverProcess]]:
    """``count`` fresh ``holdfast serve`` over the lab, stopped afterwards."""
    with ExitStack() as stack:
        started = []
        for number in range(count):
            directory = workdir / f"holdfast{number + 1}"
            directory.mkdir()
            started.append(stack.enter_context(serving(ResolverProcess.start(lab, directory))))
        yield started


def run_case(lab: LabProcess, workdir: Path, count: int, routing: str,
             queries: list[tuple[str, str]]) -> dict[str, Any]:
    """One row: ``count`` instances, ``routing`` chashed (dnsdist) or spread (in turn)."""
    workdir.mkdir()
    with instances(lab, workdir, count) as started, ExitStack() as stack:
        backends = [(instance.host, instance.port) for instance in started]
        if routing == "chashed":
            front = Dnsdist.start(workdir, free_port(), backends, PERTURBATION)
            stack.callback(front.stop)
            servers = [(front.host, front.port)]
        else:
            servers = backends
        before, _ = totals(started)
        answered = sum(ask(servers[number % len(servers)], name, rdtype)
                       for number, (name, rdtype) in enumerate(queries))
        after, largest = totals(started)
    return {
        "instances": count,
        "routing": routing,
        "client_queries": len(queries),
        "answered": answered,
        "upstream_queries": after - before,
        "upstream_per_client_query": round((after - before) / len(queries), 3),
        "largest_rrset_cache": largest,
    }


def run(queries: int) -> list[dict[str, Any]]:
    mix = mixed(queries)
    rows = []
    with tempfile.TemporaryDirectory(prefix="holdfast-scaleout-") as tmp:
        workdir = Path(tmp)
        labdir = workdir / "lab"
        labdir.mkdir()
        with serving(LabProcess.start(labdir)) as lab:
            for count in COUNTS:
                for routing in ("chashed", "spread"):
                    if count == 1 and routing == "spread":
                        continue  # one instance: nothing to spread over
                    rows.append(run_case(lab, workdir / f"{routing}-{count}", count,
                                         routing, mix))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1500, help="client queries per case")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(arguments)
    args.queries = min(max(args.queries, 1), 20_000)
    if os.geteuid() != 0:
        print("bench.scaleout: needs root (the lab on port 53 in a private namespace)",
              file=sys.stderr)
        return 2
    if DNSDIST is None:
        print("bench.scaleout: dnsdist is not installed (make tools)", file=sys.stderr)
        return 2
    isolate(arguments, "bench.scaleout")
    rows = run(args.queries)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'instances':>9} {'routing':<8} {'answered':>9} {'upstream':>9} "
          f"{'per query':>9} {'largest cache':>13}")
    for row in rows:
        print(f"{row['instances']:>9} {row['routing']:<8} "
              f"{row['answered']:>4}/{row['client_queries']:<4} {row['upstream_queries']:>9} "
              f"{row['upstream_per_client_query']:>9} {row['largest_rrset_cache']:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
