"""``mpiml convert KIND INPUT OUTPUT``: text data to .npy/.h5 (serial, no MPI).

The readers load .npy/.h5 by slicing (each rank maps or reads only its rows),
so a data set read many times is best converted once.  The input is read
with the training reader, so it gets the same validation and messages.
"""

from __future__ import annotations

import sys

from ..errors import MpimlError

KINDS = ("ratings", "dense", "libsvm")


def register(sub) -> None:
    from ..io.ratings import FORMATS
    p = sub.add_parser("convert", help="convert text data (ratings, dense CSV/TSV/TXT, LIBSVM) to .npy or .h5",
                       description="Read a text data file with the reader training uses (same checks, same "
                                   "file:line errors) and write it as .npy or .h5, which the readers load "
                                   "without parsing. Ratings: .h5 (users, items, ratings) or .npy (n x 3, "
                                   "integer ids below 2**53). Dense: .npy or .h5 (dataset X). LIBSVM: .h5 "
                                   "with a dense X and the labels y. The output is written to a temporary "
                                   "file and renamed into place; an existing output is replaced only with "
                                   "--force, the input never.")
    p.add_argument("kind", choices=KINDS, help="what the input holds")
    p.add_argument("input", metavar="INPUT", help="text file to read")
    p.add_argument("output", metavar="OUTPUT", help="file to write (.npy, .h5 or .hdf5)")
    p.add_argument("--format", choices=FORMATS, default="auto",
                   help="ratings text format (default %(default)s: by content)")
    p.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--max-dense-bytes", type=int, default=1 << 30, metavar="B",
                   help="LIBSVM: refuse if the dense X would be larger (default %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..comm.serial import SerialComm
    from ..io import convert
    comm = SerialComm()
    try:
        if args.kind == "ratings":
            s = convert.convert_ratings(comm, args.input, args.output, args.format, args.force)
        elif args.kind == "dense":
            s = convert.convert_dense(comm, args.input, args.output, args.force)
        else:
            s = convert.convert_libsvm(comm, args.input, args.output, args.force, args.max_dense_bytes)
    except MpimlError as exc:
        sys.stderr.write(f"mpiml: error: {exc}\n")
        return exc.exit_code
    import os
    mb = os.path.getsize(args.input) / 1e6
    shape = f"{s['rows']} ratings, {s['ids']} ids" if s["kind"] == "ratings" else \
        f"{s['rows']} rows x {s['features']} features" + (f", {s['nnz']} non-zeros" if "nnz" in s else "")
    print(f"read   {args.input} ({mb:.1f} MB): {shape} in {s['read_s']:.2f} s ({mb / max(s['read_s'], 1e-9):.1f} MB/s)")
    print(f"wrote  {s['out']} ({s['bytes']} bytes) in {s['seconds'] - s['read_s']:.2f} s")
    return 0
