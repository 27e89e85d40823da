"""``mpiml inspect PATH``: what a checkpoint holds (serial, no MPI)."""

from __future__ import annotations

import json
import sys

from ..errors import MpimlError


def register(sub) -> None:
    p = sub.add_parser("inspect", help="show a checkpoint: algorithm, iteration, config, arrays, provenance",
                       description="Show a checkpoint (verifies the size and CRC32 of every byte, links and "
                                   "shapes first; statistics are streamed in constant memory). "
                                   "PATH: a checkpoint directory root (follows LATEST), one checkpoint "
                                   "directory, or its master.h5. Serial: no mpiexec needed.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io.ckpt_read import Checkpoint, safe_text as t
    try:
        s = Checkpoint(args.path).summary()
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    if args.json:
        # json.dumps escapes every control character (ensure_ascii).
        print(json.dumps(s, indent=2, sort_keys=True))
        return 0
    prov = s["provenance"]
    hosts = prov.get("hosts") if isinstance(prov.get("hosts"), list) else []
    print(f"checkpoint   {t(s['path'])}")
    print(f"algorithm    {t(s['algorithm'])} (schema {s['schema_version']})")
    print(f"iteration    {s['iteration']}{'  (converged)' if s['meta'].get('converged') is True else ''}")
    print(f"written by   mpiml {t(prov.get('mpiml'))} on {s['n_ranks']} rank(s), "
          f"{t(', '.join(map(str, hosts)))}, {t(prov.get('timestamp'))}")
    print(f"MPI          {t(prov.get('mpi_library'))} | mpi4py {t(prov.get('mpi4py'))}")
    print(f"verified     {s['files']} files, {s['bytes']} bytes: size + CRC32 of every byte, "
          f"links, shapes")
    print(f"run id       {t(s['run_id'])}")
    for key, fp in sorted(s["inputs"].items()):
        if isinstance(fp, dict):
            print(f"input        --{t(key).replace('_', '-')} {t(fp.get('path'))} ({t(fp.get('size'))} bytes)")
    print("config       " + " ".join(f"{t(k)}={t(v)}" for k, v in sorted(s["config"].items()) if v is not None))
    print(f"{'array':<28s} {'shape':<16s} {'dtype':<8s} {'min':>12s} {'max':>12s} {'mean':>12s}")
    for a in s["arrays"]:
        shape = "x".join(map(str, a["shape"])) or "scalar"
        stats = [f"{a[k]:>12.5g}" if k in a else f"{'-':>12s}" for k in ("min", "max", "mean")]
        print(f"{t(a['name']):<28s} {shape:<16s} {a['dtype']:<8s} {' '.join(stats)}")
    return 0
