"""Time-ordered user ids (UUIDv7, RFC 9562).

Python 3.11 has no uuid7. Ids must sort in creation order because list pages are keyset-paged by id, so
within one process they are made strictly increasing: RFC 9562 section 6.2 method 1, a 12-bit counter in
``rand_a`` that restarts at a random low value each millisecond, and borrows the next millisecond if it runs out.
"""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF


def new_user_id() -> UUID:
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Start low so that many ids fit in one millisecond before the counter overflows.
            _counter = int.from_bytes(os.urandom(2)) & 0x1FF
        else:
            _counter += 1
            if _counter > _COUNTER_MAX:
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return UUID(int=value)
