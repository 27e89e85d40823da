"""The table of 128-bit powers of five used by the compiled number parser."""

from __future__ import annotations

import numpy as np


def pow5_table(q_min: int, q_max: int):
    """128-bit approximations of 5**q, q in [q_min, q_max], with the top bit set,
    as (high, low) uint64 words: for q >= 0 the leading 128 bits of 5**q
    (truncated); for q < 0 one more than the leading 128 bits of 2**b / 5**-q
    (b chosen so the quotient has at least 128 bits).  This is the table of
    Lemire's algorithm ("Number parsing at a gigabyte per second", Software:
    Practice and Experience 51(8), 2021, section 5), computed here with
    Python integers."""
    hi, lo = [], []
    for q in range(q_min, q_max + 1):
        if q >= 0:
            c = 5 ** q
            c = c << (128 - c.bit_length()) if c.bit_length() < 128 else c >> (c.bit_length() - 128)
        else:
            p5 = 5 ** -q
            z = (p5 - 1).bit_length()                 # smallest z with 2**z >= 5**-q
            b = z + 127 if q >= -27 else 2 * z + 128
            c = (1 << b) // p5 + 1
            while c >= 1 << 128:
                c >>= 1
        hi.append(c >> 64)
        lo.append(c & ((1 << 64) - 1))
    return np.array(hi, dtype=np.uint64), np.array(lo, dtype=np.uint64)
