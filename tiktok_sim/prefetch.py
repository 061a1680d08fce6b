"""Asking the processor to start loading memory a compiled kernel will read soon.

Several kernels walk the tick's impressions or blocks in user order and read each user's row
of a large per-user table (the estimates, the true interests), which is far outside the
caches at a large world's size. The loads of one row wait on memory; asking for the next
users' rows a little ahead lets those waits overlap with the work on this one. A prefetch
changes no value, so the results are the same.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from tiktok_sim import compiled  # noqa: F401  (kernel settings, before any kernel is defined)

AHEAD = 24
"""Impressions ahead of the one at hand whose viewer's rows a walk over impressions asks for."""


@intrinsic
def prefetch(typingctx, array, index):  # type: ignore[no-untyped-def]
    """Start loading ``array[index]`` into the cache, and go on without waiting for it."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        array_type = signature.args[0]
        data = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, data, [args[1]], wraparound=False)
        i32, byte_pointer = ir.IntType(32), ir.IntType(8).as_pointer()
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        # A read, kept in every cache level, of data (not instructions).
        builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@numba.njit(cache=True)
def prefetch_row(flat: np.ndarray, row: int, width: int) -> None:
    """Start loading row ``row`` of a ``width``-wide table, given as ``flat``, a 64-byte cache line at a time."""
    first = np.int64(row) * width
    for k in range(0, width, 64 // flat.itemsize):
        prefetch(flat, first + k)  # type: ignore[call-arg]
    prefetch(flat, first + width - 1)  # type: ignore[call-arg]  # a row starting mid-line ends on one more
