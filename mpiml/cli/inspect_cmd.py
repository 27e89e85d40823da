"""``mpiml inspect PATH``: what a checkpoint holds (serial, no MPI)."""

from __future__ import annotations

import json
import sys

from ..errors import MpimlError


def register(sub) -> None:
    p = sub.add_parser("inspect", help="show a checkpoint: algorithm, iteration, config, arrays, provenance",
                       description="Show a checkpoint (verifies every shard's size and CRC32). "
                                   "PATH: a checkpoint directory root (follows LATEST), one checkpoint "
                                   "directory, or its master.h5. Serial: no mpiexec needed.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.ckpt_read import Checkpoint
    try:
        s = Checkpoint(args.path).summary()
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    if args.json:
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    prov = s["provenance"]
    print(f"checkpoint   {s['path']}")
    print(f"algorithm    {s['algorithm']} (schema {s['schema_version']})")
    print(f"iteration    {s['iteration']}{'  (converged)' if s['meta'].get('converged') else ''}")
    print(f"written by   mpiml {prov.get('mpiml')} on {s['n_ranks']} rank(s), {', '.join(prov.get('hosts', []))}, "
          f"{prov.get('timestamp')}")
    print(f"MPI          {prov.get('mpi_library')} | mpi4py {prov.get('mpi4py')}")
    print(f"shards       {len(s['shards'])} verified (size + CRC32)")
    print("config       " + " ".join(f"{k}={v}" for k, v in sorted(s["config"].items()) if v is not None))
    print(f"{'array':<28s} {'shape':<16s} {'dtype':<8s} {'min':>12s} {'max':>12s} {'mean':>12s}")
    for a in s["arrays"]:
        shape = "x".join(map(str, a["shape"])) or "scalar"
        stats = [f"{a[k]:>12.5g}" if k in a else f"{'-':>12s}" for k in ("min", "max", "mean")]
        print(f"{a['name']:<28s} {shape:<16s} {a['dtype']:<8s} {' '.join(stats)}")
    return 0
