"""The stack of secondary particles of one history (last in, first out).

A row holds a particle's position [cm], unit direction, kinetic energy [MeV] and species
(columns ``mc.kernel.layout.STACK_*``). Secondaries are followed after the particle that made
them ends, in the same loop; the order does not change the dose, which is a sum.
"""

import numpy as np

from mc.jit import jit_kernel, jit_stage

from .layout import (STACK_COLUMNS, STACK_MAX, STACK_SPECIES, STACK_T, STACK_U, STACK_V, STACK_W, STACK_X, STACK_Y,
                     STACK_Z)


@jit_kernel
def new_stack():
    """An empty stack of :data:`mc.kernel.layout.STACK_MAX` rows."""
    return np.empty((STACK_MAX, STACK_COLUMNS))


@jit_stage
def has_room(stack, n):
    """Whether a stack holding ``n`` particles takes one more."""
    return n < stack.shape[0]


@jit_stage
def push(stack, n, x, y, z, u, v, w, T, sp):
    """Put a particle on top of a stack holding ``n``; returns the new count."""
    stack[n, STACK_X] = x
    stack[n, STACK_Y] = y
    stack[n, STACK_Z] = z
    stack[n, STACK_U] = u
    stack[n, STACK_V] = v
    stack[n, STACK_W] = w
    stack[n, STACK_T] = T
    stack[n, STACK_SPECIES] = sp
    return n + 1


@jit_stage
def pop(stack, n):
    """Take the top particle off a stack holding ``n`` > 0: returns (new count, x, y, z, u, v, w,
    T, species)."""
    n -= 1
    return (n, stack[n, STACK_X], stack[n, STACK_Y], stack[n, STACK_Z], stack[n, STACK_U], stack[n, STACK_V],
            stack[n, STACK_W], stack[n, STACK_T], int(stack[n, STACK_SPECIES]))
