"""Numba parsers for the text readers: numbers and lines straight from bytes.

Kernels take a file block as a ``uint8`` array and return arrays; they accept
only the common case and report anything else, so that the reader can run
its exact line-by-line path, which words every message.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .pow5 import pow5_table


@njit(cache=True, inline="always")
def _is_space(x):
    """ASCII whitespace as ``bytes.split()`` knows it: bytes 9-13 and 32."""
    return x == 32 or (x >= 9 and x <= 13)


@njit(cache=True)
def _token_end(buf, t, n):
    while t < n and not _is_space(buf[t]):
        t += 1
    return t


# Status codes of the number scanners:
OK, HARD, BAD = 0, 1, 2
# OK: the value is exact.  HARD: the token is a well-formed decimal number
# whose correctly rounded double this kernel does not compute (more than 19
# significant digits, a subnormal or overflowing result, or one of the rare
# products too close to a rounding boundary); the caller converts such tokens
# with Python's float() rules.  BAD: not a plain decimal number (inf,
# nan, underscores, hex, junk): the caller takes the exact slow path.

# 10**k for k <= 22 is exactly representable as a double (5**22 < 2**53).
_POW10 = np.array([10.0 ** k for k in range(23)])
_TWO53 = 1 << 53
# Lemire's algorithm covers decimal exponents -342..308; beyond, the value
# is zero or infinite (or subnormal) and the caller converts exactly.
_Q_MIN, _Q_MAX = -342, 308
_P5_HI, _P5_LO = pow5_table(_Q_MIN, _Q_MAX)
_M32 = np.uint64(0xFFFFFFFF)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def _mul128(a, b):
    """(high, low) 64-bit words of the 128-bit product of uint64 a and b."""
    s32 = np.uint64(32)
    a0, a1, b0, b1 = a & _M32, a >> s32, b & _M32, b >> s32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> s32) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> s32) + (p10 >> s32) + (mid >> s32), (mid << s32) | (p00 & _M32)


@njit(cache=True)
def _eisel_lemire(w, q):
    """The double nearest to ``w * 10**q`` (w < 2**64, w > 0), or ``(False,
    0.0)`` where the 128-bit product cannot decide the rounding, or the
    result is subnormal or infinite (the caller then converts exactly).

    Lemire's algorithm (2021, after Eisel): normalise w, multiply by the
    128-bit 5**q, keep 54 bits and round to 53, halfway cases to even; the
    binary exponent is floor(q * log2(10)) + 63 + (top bit) - (leading zeros).
    """
    if q < _Q_MIN or q > _Q_MAX:
        return False, 0.0
    lz = 0
    top = np.uint64(1) << np.uint64(63)
    while not (w & top):
        w = w << np.uint64(1)
        lz += 1
    k = q - _Q_MIN
    hi, lo = _mul128(w, _P5_HI[k])
    mask = np.uint64(0x1FF)
    if (hi & mask) == mask:                     # the low words may carry into the kept bits
        hi2, _ = _mul128(w, _P5_LO[k])
        lo2 = lo + hi2
        if lo2 < lo:
            hi = hi + np.uint64(1)
        lo = lo2
        if (hi & mask) == mask and lo == _ONES:
            return False, 0.0
    upper = int(hi >> np.uint64(63))
    m = hi >> np.uint64(upper + 9)
    e2 = ((217706 * q) >> 16) + 63 + upper - lz + 1023   # biased exponent of the result
    if e2 <= 0:
        return False, 0.0
    if lo <= np.uint64(1) and -4 <= q <= 23 and (m & np.uint64(3)) == np.uint64(1) \
            and (m << np.uint64(upper + 9)) == hi:
        m = m & ~np.uint64(1)                   # exactly halfway: round to even
    m = (m + (m & np.uint64(1))) >> np.uint64(1)
    if m >= np.uint64(1) << np.uint64(53):
        m = np.uint64(1) << np.uint64(52)
        e2 += 1
    if e2 >= 2047:
        return False, 0.0
    return True, np.ldexp(float(m), e2 - 1075)


@njit(cache=True)
def scan_float(buf, a, b):
    """Parse ``buf[a:b]`` as ``[+-]? (d+ [. d*] | . d+) ([eE] [+-]? d+)?``.

    Returns ``(status, value)``.  The value is exact (what Python's float()
    gives) when status is OK: with a mantissa ``w`` below 2**53 and a power
    ``q`` with |q| <= 22, both ``w`` and ``10**|q|`` are exact doubles and one
    IEEE multiplication or division rounds the exact product correctly
    (Clinger 1990, the "fast path"); other mantissas of up to 19 digits go
    through :func:`_eisel_lemire`, which is exact or declines (HARD).
    """
    if a >= b:
        return BAD, 0.0
    t = a
    neg = False
    c = buf[t]
    if c == 43 or c == 45:          # + -
        neg = c == 45
        t += 1
    w = np.uint64(0)
    nd = 0                          # significant digits in w
    n_int = 0
    n_frac = 0
    q = 0
    while t < b and 48 <= buf[t] <= 57:
        d = buf[t] - 48
        if nd > 0 or d != 0:
            nd += 1
            if nd <= 19:
                w = w * np.uint64(10) + np.uint64(d)
        n_int += 1
        t += 1
    if t < b and buf[t] == 46:      # .
        t += 1
        while t < b and 48 <= buf[t] <= 57:
            d = buf[t] - 48
            if nd > 0 or d != 0:
                nd += 1
                if nd <= 19:
                    w = w * np.uint64(10) + np.uint64(d)
            n_frac += 1
            q -= 1
            t += 1
    if n_int + n_frac == 0:
        return BAD, 0.0
    if t < b and (buf[t] == 101 or buf[t] == 69):   # e E
        t += 1
        eneg = False
        if t < b and (buf[t] == 43 or buf[t] == 45):
            eneg = buf[t] == 45
            t += 1
        if t >= b:
            return BAD, 0.0
        e = 0
        while t < b and 48 <= buf[t] <= 57:
            if e < 100000:
                e = e * 10 + (buf[t] - 48)
            t += 1
        if t < b:
            return BAD, 0.0
        q += -e if eneg else e
    if t != b:
        return BAD, 0.0
    if nd == 0:
        return OK, -0.0 if neg else 0.0
    if nd > 19:
        return HARD, 0.0
    if w >= np.uint64(_TWO53) or q > 22 or q < -22:
        ok, v = _eisel_lemire(w, q)
        if not ok:
            return HARD, 0.0
        return OK, -v if neg else v
    v = float(w)
    if q >= 0:
        v = v * _POW10[q]
    else:
        v = v / _POW10[-q]
    return OK, -v if neg else v


@njit(cache=True)
def scan_int(buf, a, b, signed):
    """Parse ``buf[a:b]`` as ``[+-]? d+`` (``signed``) or ``d+`` with at most
    18 digits (so it fits int64).  Returns ``(ok, value)``."""
    if a >= b:
        return False, 0
    t = a
    neg = False
    if signed and (buf[t] == 43 or buf[t] == 45):
        neg = buf[t] == 45
        t += 1
    if t >= b or b - t > 18:
        return False, 0
    v = 0
    while t < b:
        c = buf[t]
        if c < 48 or c > 57:
            return False, 0
        v = v * 10 + (c - 48)
        t += 1
    return True, -v if neg else v


@njit(cache=True)
def _put_hard(hbuf, hn, buf, a, b):
    """Append token ``buf[a:b]`` and a space to ``hbuf`` at ``hn``; new length."""
    for t in range(a, b):
        hbuf[hn] = buf[t]
        hn += 1
    hbuf[hn] = 32
    return hn + 1


@njit(cache=True)
def _skip_space(buf, t, n):
    while t < n and buf[t] != 10 and _is_space(buf[t]):
        t += 1
    return t


# Outcomes of the line parsers (first element of their result).
DONE, SLOW, FIELDS = 0, 1, 2


@njit(cache=True)
def parse_ratings(buf, sep, skip_first):
    """Ratings lines ``user item rating [anything]`` of an ASCII byte block.

    Fields are separated by ASCII whitespace (bytes 9-13, 32) or the byte
    ``sep``, lines by ``\\n``; lines without fields are skipped, and so are
    comment lines (``#`` after nothing but spaces, tabs and ``sep``) and the
    first line if ``skip_first``.  One pass; returns ``(outcome, line, found,
    users, items, values, lines, hard_buf, hard_dst)``:

    * FIELDS: local line ``line`` (0-based) has ``found`` fields, not 0, 3 or 4
      (the first such line: the field count is checked before the values);
    * SLOW: some id is not an integer literal of at most 18 digits or some
      rating not a plain decimal number (``line``: the first such line);
    * DONE: users/items (int64), values, 0-based lines of the rows; ratings
      whose value needs exact conversion are left 0 and listed, as text
      separated by spaces, in ``hard_buf`` with their row in ``hard_dst``.
    """
    n = buf.shape[0]
    cap = 1
    for t in range(n):
        if buf[t] == 10:
            cap += 1
    users = np.empty(cap, np.int64)
    items = np.empty(cap, np.int64)
    values = np.empty(cap, np.float64)
    lines = np.empty(cap, np.int64)
    hard_buf = np.empty(n + 1, np.uint8)
    hard_dst = np.empty(cap, np.int64)
    hn = 0
    nh = 0
    r = 0
    t = 0
    line = 0
    slow_line = -1
    if skip_first:
        while t < n and buf[t] != 10:
            t += 1
    while t < n:
        t = _skip_sep(buf, t, n, sep)
        if t >= n:
            break
        if buf[t] == 10:
            line += 1
            t += 1
            continue
        if buf[t] == 35 and _only_blank(buf, t, sep):
            while t < n and buf[t] != 10:
                t += 1
            continue
        k = 0
        ok = True
        u = i = 0
        v = 0.0
        st = OK
        a2 = b2 = 0
        while t < n and buf[t] != 10:       # the fields of this line
            a = t
            t = _field_end(buf, t, n, sep)
            if k == 0:
                good, u = scan_int(buf, a, t, True)
                ok = ok and good
            elif k == 1:
                good, i = scan_int(buf, a, t, True)
                ok = ok and good
            elif k == 2:
                st, v = scan_float(buf, a, t)
                ok = ok and st != BAD
                a2, b2 = a, t
            k += 1
            t = _skip_sep(buf, t, n, sep)
        if k != 3 and k != 4:
            e = np.empty(0, np.int64)
            return FIELDS, line, k, e, e, np.empty(0), e, np.empty(0, np.uint8), e
        if not ok:
            if slow_line < 0:
                slow_line = line
            continue
        if slow_line >= 0:
            continue
        if st == HARD:
            hn = _put_hard(hard_buf, hn, buf, a2, b2)
            hard_dst[nh] = r
            nh += 1
        users[r], items[r], values[r], lines[r] = u, i, v, line
        r += 1
    if slow_line >= 0:
        e = np.empty(0, np.int64)
        return SLOW, slow_line, 0, e, e, np.empty(0), e, np.empty(0, np.uint8), e
    return (DONE, 0, 0, users[:r].copy(), items[:r].copy(), values[:r].copy(), lines[:r].copy(),
            hard_buf[:hn].copy(), hard_dst[:nh].copy())


@njit(cache=True)
def _only_blank(buf, t, sep):
    """Whether ``buf[t]`` is preceded on its line only by spaces, tabs, ``sep``."""
    while t > 0:
        x = buf[t - 1]
        if x == 10:
            return True
        if x != 32 and x != 9 and x != sep:
            return False
        t -= 1
    return True


@njit(cache=True)
def _skip_sep(buf, t, n, sep):
    while t < n and buf[t] != 10 and (_is_space(buf[t]) or buf[t] == sep):
        t += 1
    return t


@njit(cache=True)
def _field_end(buf, t, n, sep):
    while t < n and not _is_space(buf[t]) and buf[t] != sep:
        t += 1
    return t


@njit(cache=True)
def parse_dense(buf, comma, skip_first):
    """Rows of numbers of a byte block: fields separated by ``,`` (``comma``)
    or by ASCII whitespace runs, each field stripped of ASCII whitespace;
    lines that are blank or start with ``#`` after stripping are skipped, and
    so is the first line if ``skip_first``.

    Returns ``(outcome, line, values, counts, lines, hard_buf, hard_dst)``:
    SLOW names the first line with a field that is not a plain decimal
    number; DONE gives the values in row order, fields per row and the
    0-based line of each row, with hard tokens as in :func:`parse_ratings`
    (``hard_dst`` indexes ``values``).
    """
    n = buf.shape[0]
    cap = 1
    n_lines = 1
    for t in range(n):              # an upper bound on fields and rows
        x = buf[t]
        if x == 10:
            n_lines += 1
        elif comma and x == 44:
            cap += 1
        elif not comma and not _is_space(x) and (t == 0 or _is_space(buf[t - 1])):
            cap += 1
    cap += n_lines
    values = np.empty(cap, np.float64)
    counts = np.empty(n_lines, np.int64)
    lines = np.empty(n_lines, np.int64)
    hard_buf = np.empty(n + 1, np.uint8)
    hard_dst = np.empty(cap, np.int64)
    nv = 0
    nr = 0
    hn = 0
    nh = 0
    line = 0
    t = 0
    while t < n or (t == n and line < n_lines):
        e = t
        while e < n and buf[e] != 10:
            e += 1
        a, b = t, e
        t = e + 1
        this = line
        line += 1
        if this == 0 and skip_first:
            continue
        while a < b and _is_space(buf[a]):
            a += 1
        while b > a and _is_space(buf[b - 1]):
            b -= 1
        if a == b or buf[a] == 35:      # blank, or a '#' comment
            continue
        k = 0
        while a <= b:
            if comma:
                f = a
                while f < b and buf[f] != 44:
                    f += 1
                nxt = f + 1
                s, g = a, f
                while s < g and _is_space(buf[s]):
                    s += 1
                while g > s and _is_space(buf[g - 1]):
                    g -= 1
            else:
                s = a
                g = _token_end(buf, s, b)
                nxt = _skip_space(buf, g, b)
                if nxt == b:
                    nxt = b + 1
            st, v = scan_float(buf, s, g)
            if st == BAD:
                z = np.empty(0, np.int64)
                return SLOW, this, np.empty(0), z, z, np.empty(0, np.uint8), z
            if st == HARD:
                hn = _put_hard(hard_buf, hn, buf, s, g)
                hard_dst[nh] = nv
                nh += 1
            values[nv] = v
            nv += 1
            k += 1
            a = nxt
        counts[nr] = k
        lines[nr] = this
        nr += 1
    return (DONE, 0, values[:nv].copy(), counts[:nr].copy(), lines[:nr].copy(),
            hard_buf[:hn].copy(), hard_dst[:nh].copy())


@njit(cache=True)
def parse_libsvm(buf, n_features):
    """LIBSVM lines ``label index:value ...`` of a byte block (text after
    ``#`` ignored, ``qid:`` tokens skipped, indices 1-based, strictly
    increasing and at most ``n_features`` if that is >= 0).

    Returns ``(outcome, line, labels, lines, indptr, indices, values,
    max_index, hard_buf, hard_dst)``; SLOW on the first line with anything
    else (a malformed token, a bad index), DONE otherwise.  Hard numbers are
    listed as in :func:`parse_ratings`, in file order; ``hard_dst`` is the
    index into ``values`` for a value and ``-1 - row`` for a label.
    """
    n = buf.shape[0]
    n_lines = 1
    cap = 0
    for t in range(n):
        x = buf[t]
        if x == 10:
            n_lines += 1
        elif not _is_space(x) and (t == 0 or _is_space(buf[t - 1])):
            cap += 1
    labels = np.empty(n_lines, np.float64)
    lines = np.empty(n_lines, np.int64)
    indptr = np.zeros(n_lines + 1, np.int64)
    indices = np.empty(cap, np.int64)
    values = np.empty(cap, np.float64)
    hard_buf = np.empty(n + 1, np.uint8)
    hard_dst = np.empty(cap + n_lines, np.int64)
    hn = 0
    nh = 0
    nr = 0
    nv = 0
    max_index = 0
    line = 0
    t = 0
    while t < n or (t == n and line < n_lines):
        e = t
        c = n
        while e < n and buf[e] != 10:
            if buf[e] == 35 and c == n:
                c = e
            e += 1
        a, b = t, min(e, c)
        t = e + 1
        this = line
        line += 1
        a = _skip_space(buf, a, b)
        if a >= b:
            continue
        g = _token_end(buf, a, b)
        st, lab = scan_float(buf, a, g)
        if st == BAD:
            z = np.empty(0, np.int64)
            return SLOW, this, np.empty(0), z, z, z, np.empty(0), 0, np.empty(0, np.uint8), z
        if st == HARD:
            hn = _put_hard(hard_buf, hn, buf, a, g)
            hard_dst[nh] = -1 - nr
            nh += 1
        prev = 0
        a = _skip_space(buf, g, b)
        while a < b:
            g = _token_end(buf, a, b)
            colon = a
            while colon < g and buf[colon] != 58:
                colon += 1
            bad = colon == g
            if not bad and colon - a == 3 and buf[a] == 113 and buf[a + 1] == 105 and buf[a + 2] == 100:
                a = _skip_space(buf, g, b)          # qid:N
                continue
            if not bad:
                ok, idx = scan_int(buf, a, colon, False)
                bad = not ok or idx < 1 or idx <= prev or (n_features >= 0 and idx > n_features)
            if not bad:
                st, v = scan_float(buf, colon + 1, g)
                bad = st == BAD
            if bad:
                z = np.empty(0, np.int64)
                return SLOW, this, np.empty(0), z, z, z, np.empty(0), 0, np.empty(0, np.uint8), z
            if st == HARD:
                hn = _put_hard(hard_buf, hn, buf, colon + 1, g)
                hard_dst[nh] = nv
                nh += 1
            indices[nv] = idx - 1
            values[nv] = v
            nv += 1
            prev = idx
            a = _skip_space(buf, g, b)
        if prev > max_index:
            max_index = prev
        labels[nr] = lab
        lines[nr] = this
        nr += 1
        indptr[nr] = nv
    return (DONE, 0, labels[:nr].copy(), lines[:nr].copy(), indptr[:nr + 1].copy(), indices[:nv].copy(),
            values[:nv].copy(), max_index, hard_buf[:hn].copy(), hard_dst[:nh].copy())
