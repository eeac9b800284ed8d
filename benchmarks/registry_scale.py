"""Registry at scale: one model with 10,000 versions and 1,000 aliases vs 100 and 10, one run.

    python benchmarks/registry_scale.py [--small 100,10] [--large 10000,1000] [--repeat 200]

Each registry is a fresh SQLite store. Its first version is published through the service
(the file stored in the blob store); the others are added in bulk straight into the tables,
as publish writes them (two files each), and the aliases are moved through the ledger's
rows. Then each query a notebook, the sidebar or a serving client makes is timed in-process
through ``RegistryService`` (median of ``--repeat`` calls):

- resolve ``team/resnet`` (latest), ``team/resnet:N`` (a middle version) and
  ``team/resnet@aK`` (an alias), each described with its files and aliases;
- ``alias()`` with its per-generation cache cleared (the SQL a serving poll runs);
- one page of versions (the newest 50) and the Models panel's summary (``models()``).

Goal: each <= 2x its time on the small registry. (The full alias list is printed too; it
returns every alias, so it grows with their number by design.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

PAGE = 50
GOAL = 2.0


def build(root: Path, versions: int, aliases: int) -> tuple[Any, Any]:
    """A registry at ``root`` with one model of ``versions`` versions and ``aliases`` aliases."""
    from sqlalchemy import insert

    from lepton_jupyter.registry import tables as t
    from lepton_jupyter.registry.identity import Principal
    from lepton_jupyter.registry.schema import FileEntry, PublishRequest
    from lepton_jupyter.registry.service import open_service
    from lepton_jupyter.settings import load_settings

    settings = load_settings(state_dir=root)
    service = open_service(settings)
    me = Principal("alice")
    weights = root / "weights.bin"
    weights.write_bytes(b"w" * 4096)
    digest, size = service.store_file(me, weights)
    service.publish(
        me,
        "team/resnet",
        PublishRequest(
            files=[FileEntry(path="w.bin", digest=digest, size=size)], kind="file", entry="w.bin"
        ),
    )
    now = datetime.now(timezone.utc)

    def bulk(tx: Any) -> None:
        session = tx.session
        model_id = session.query(t.Model.id).scalar()
        rows = [
            {
                "model_id": model_id,
                "number": n,
                "digest": f"sha256:{n:064x}",
                "kind": "file",
                "entry": "w.bin",
                "size": 2 * size,
                "description": f"version {n}",
                "metrics": {"loss": 1.0 / n},
                "params": {"lr": 0.1},
                "lineage": {},
                "created_by": "alice",
                "created_at": now,
            }
            for n in range(2, versions + 1)
        ]
        if rows:
            session.execute(insert(t.Version), rows)
        ids = dict(session.query(t.Version.number, t.Version.id).all())
        session.execute(
            insert(t.VersionFile),
            [
                {"version_id": ids[n], "path": p, "digest": digest, "size": size}
                for n in range(2, versions + 1)
                for p in ("w.bin", "config.json")
            ],
        ) if rows else None
        session.execute(
            insert(t.Alias),
            [
                {"model_id": model_id, "name": f"a{k}", "version_id": ids[1 + k % versions]}
                for k in range(aliases)
            ],
        )
        session.execute(
            insert(t.AliasEvent),
            [
                {
                    "model_id": model_id,
                    "alias": f"a{k}",
                    "action": "set",
                    "version": 1 + k % versions,
                    "previous": None,
                    "actor": "alice",
                    "at": now,
                }
                for k in range(aliases)
            ],
        )

    service.store.writing(bulk)
    return service, me


def queries(service: Any, me: Any, versions: int, aliases: int) -> dict[str, Callable[[], Any]]:
    alias = f"a{aliases // 2}"

    def uncached_alias() -> None:
        service._alias_cache.clear()
        service.alias(me, "team/resnet", alias)

    return {
        "resolve latest": lambda: service.resolve(me, "team/resnet"),
        "resolve :N": lambda: service.resolve(me, f"team/resnet:{versions // 2 or 1}"),
        "resolve @alias": lambda: service.resolve(me, f"team/resnet@{alias}"),
        "alias (poll)": uncached_alias,
        f"page of {PAGE}": lambda: service.versions(me, "team/resnet", limit=PAGE),
        "models()": lambda: service.models(me),
        "all aliases": lambda: service.aliases(me, "team/resnet"),
    }


def interleaved_ms(small: Callable[[], Any], large: Callable[[], Any], repeat: int) -> list[float]:
    """Medians (ms) of the two calls, alternated so that load on a shared machine falls on
    both alike."""
    small(), large()  # warm: connections, statement caches
    times: list[list[float]] = [[], []]
    for _ in range(repeat):
        for i, call in enumerate((small, large)):
            start = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) * 1000 for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", default="100,10", help="versions,aliases of the baseline")
    parser.add_argument("--large", default="10000,1000", help="versions,aliases at scale")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in s.split(",")) for s in (args.small, args.large)]
    built = []
    with tempfile.TemporaryDirectory(prefix="lepton-bench-registry-scale-") as tmp:
        for versions, aliases in sizes:
            start = time.perf_counter()
            service, me = build(Path(tmp) / f"v{versions}", versions, aliases)
            print(
                f"registry with {versions} versions, {aliases} aliases built in "
                f"{time.perf_counter() - start:.1f} s",
                flush=True,
            )
            built.append(queries(service, me, versions, aliases))
        small_calls, large_calls = built
        rows = {
            key: interleaved_ms(small_calls[key], large_calls[key], args.repeat)
            for key in small_calls
        }
    (small_v, small_a), (large_v, large_a) = sizes
    print(
        f"\nmedian ms per call; ratio = {large_v} versions/{large_a} aliases over "
        f"{small_v}/{small_a}"
    )
    print(f"{'query':<16} {'small':>8} {'large':>8} {'ratio':>6}")
    worst = 0.0
    for key, (small, large) in rows.items():
        ratio = large / small
        if key != "all aliases":
            worst = max(worst, ratio)
        print(f"{key:<16} {small:>8.3f} {large:>8.3f} {ratio:>6.2f}")
    print(f"worst ratio (all aliases aside): {worst:.2f} (goal <= {GOAL})")
    sys.exit(0 if worst <= GOAL else 1)


if __name__ == "__main__":
    main()
