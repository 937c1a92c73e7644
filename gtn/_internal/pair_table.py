"""A numba map from an int64 key (a product state (s1, s2, filter state)) to an int32 id.

Small key spaces use a dense array (one load per lookup); large ones an open-addressing hash
table with linear probing, several times faster than numba's typed Dict on this hot path.
Tables are (dense, keys, ids) triples: ``keys`` is empty when dense; -1 marks a free slot."""

import numba as nb
import numpy as np

from .jit import kernel_helper

# Key spaces up to this size are dense: filling 16 MB of int32 costs less than hashing the
# millions of lookups that products of that size usually make.
DENSE_LIMIT = 1 << 22
EMPTY = np.int64(-1)


@kernel_helper
def new_table(key_space, dense_limit):
    """An empty table for keys in [0, key_space): dense if key_space <= dense_limit."""
    dense = key_space <= dense_limit
    keys = np.empty(0 if dense else 1024, np.int64)
    ids = np.empty(key_space if dense else 1024, np.int32)
    # loops, not np.full: every kernel allocates with np.empty only (one compilation each)
    for i in range(keys.shape[0]):
        keys[i] = EMPTY
    for i in range(ids.shape[0]):
        ids[i] = -1
    return dense, keys, ids


@nb.njit(cache=True, inline="always")
def _slot(key, mask):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing
    return np.int64(h >> np.uint64(20)) & mask


@nb.njit(cache=True, inline="always")
def find(dense, keys, ids, key):
    """The id stored for `key`, or -1."""
    if dense:
        return ids[key]
    mask = keys.shape[0] - 1
    h = _slot(key, mask)
    while True:
        k = keys[h]
        if k == key:
            return ids[h]
        if k == EMPTY:
            return -1
        h = (h + 1) & mask


@kernel_helper
def reserve(dense, keys, ids, count):
    """Make room for `count` entries in all; returns (keys, ids), reallocated if the hash table
    would pass load 1/2. Reserving ahead keeps reallocation out of the lookup loops."""
    if dense or 2 * count <= keys.shape[0]:
        return keys, ids
    size = keys.shape[0]
    while 2 * count > size:
        size *= 2
    new_keys = np.empty(size, np.int64)
    new_ids = np.empty(size, np.int32)
    for j in range(size):
        new_keys[j] = EMPTY
    for j in range(keys.shape[0]):
        if keys[j] != EMPTY:
            insert(False, new_keys, new_ids, keys[j], ids[j])
    return new_keys, new_ids


@nb.njit(cache=True, inline="always")
def insert(dense, keys, ids, key, value):
    """Store key -> value; key must be absent and room reserved."""
    if dense:
        ids[key] = value
        return
    mask = keys.shape[0] - 1
    h = _slot(key, mask)
    while keys[h] != EMPTY:
        h = (h + 1) & mask
    keys[h] = key
    ids[h] = value
