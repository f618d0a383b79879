"""Random numbers of the kernel: xoshiro256+ uniforms and Gaussian pairs.

Each batch has its own generator state (uint64[4]) derived from (seed, batch index) by
:func:`mc.batch.batch_seed`, so which process runs a batch never changes its histories.
"""

import math

import numpy as np

from mc.jit import jit_inline

_U11 = np.uint64(11)
_U17 = np.uint64(17)
_U45 = np.uint64(45)
_U19 = np.uint64(19)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2^-53


@jit_inline
def uniform(st):
    """Uniform deviate in [0, 1) from the xoshiro256+ generator (Blackman & Vigna 2021, ACM
    Trans. Math. Softw. 47:36, "Scrambled linear pseudorandom number generators", Sec. 3)
    whose state is the uint64[4] array ``st``; the upper 53 bits make the double."""
    s0 = st[0]
    s1 = st[1]
    s2 = st[2] ^ s0
    s3 = st[3] ^ s1
    result = s0 + st[3]
    t = s1 << _U17
    st[1] = s1 ^ s2
    st[0] = s0 ^ s3
    st[2] = s2 ^ t
    st[3] = (s3 << _U45) | (s3 >> _U19)
    return (result >> _U11) * _TWO_M53


@jit_inline
def gauss_pair(st):
    """Two independent standard normal deviates (the polar method of Marsaglia & Bray 1964,
    SIAM Rev. 6:260): a point uniform in the unit disc, q = a^2 + b^2, scaled by
    sqrt(-2 ln q / q)."""
    while True:
        a = 2.0 * uniform(st) - 1.0
        b = 2.0 * uniform(st) - 1.0
        q = a * a + b * b
        if 0.0 < q < 1.0:
            f = math.sqrt(-2.0 * math.log(q) / q)
            return a * f, b * f

