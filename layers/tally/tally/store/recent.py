"""What the meter-event routes read a moment ago: the items one ingest request looks up (the
presented key's hash, the meter's claim on its event name and its watch list, the customers),
kept per process for `settings().ingest_cache_seconds` (1 s by default; 0: no cache), so a warm
process accepts a single event with ONE request, its write (issue 15, point 5).

What it may keep, and what that costs (docs/API.md, "On the meter-event routes"):
- Only items found, plus the absence of a watch list (a meter without alerts): a key, meter or
  customer created a moment ago is found on its first request, never refused from the cache.
- A removed key, a deactivated meter or a deleted customer is refused by other processes (the
  ingest Lambda's warm instances) within those seconds, and by this one at once: every committed
  change of an account in this process forgets what is kept of that account (`forget`), and a
  read that started before such a change is not kept (the account's generation moved on).
- A session token or key that expires is refused at its expiry whatever is kept: the item keeps
  its `expires`, and the caller checks it against the request's time.
- A watch list kept a moment too long may say "no running figures" just after they were switched
  on: usage reads cover that with the buckets for `usage_figures.SETTLE` seconds, longer than the
  ingest function's timeout plus the longest allowed keeping (a test checks the template).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tally.settings import settings

if TYPE_CHECKING:
    from tally.store.models import ObjectItem

Key = tuple[str, str]
MAX_ITEMS = 2048  # per process; past it everything kept is dropped (items are small: ≲ 2 KB)

# account → key → (item or None for a remembered absence, monotonic instant it stops being fresh)
_kept: dict[str, dict[Key, tuple[ObjectItem | None, float]]] = {}
_size = [0]
_generations: dict[str, int] = {}
# `keep` checks the generation and stores under the same lock `forget` bumps it under, so a read
# overtaken by a change in another thread of this process (the local runtime serves requests on
# threads) is never kept. Lambda runs one request at a time: the lock is never contended there.
_lock = threading.Lock()


def generation(account: str) -> int:
    """The account's count of forgets: take it before a read, give it to `keep` after."""
    return _generations.get(account, 0)


def fresh(account: str, keys: Iterable[Key]) -> tuple[dict[Key, ObjectItem | None], list[Key]]:
    """(the kept items of `keys` still fresh, by key: None for a kept absence; the other keys)."""
    kept = _kept.get(account, {})
    now = time.monotonic()  # a cache age, not billing time
    hits: dict[Key, ObjectItem | None] = {}
    misses: list[Key] = []
    for key in keys:
        entry = kept.get(key)
        if entry is not None and entry[1] > now:
            hits[key] = entry[0]
        else:
            misses.append(key)
    return hits, misses


def keep(account: str, read_at: int, found: dict[Key, ObjectItem], absent: Iterable[Key] = ()) -> None:
    """Keep what a read found (and the `absent` keys it did not find) unless the account changed
    in this process since `read_at` (its `generation` before the read)."""
    seconds = settings().ingest_cache_seconds
    if seconds <= 0:
        return
    entries: list[tuple[Key, ObjectItem | None]] = [*found.items()]
    entries += [(key, None) for key in absent if key not in found]
    until = time.monotonic() + seconds
    with _lock:
        if generation(account) != read_at:
            return
        if _size[0] + len(entries) > MAX_ITEMS:
            _kept.clear()
            _size[0] = 0
        kept = _kept.setdefault(account, {})
        for key, item in entries:
            _size[0] += key not in kept
            kept[key] = (item, until)


def read_through(
    account: str,
    keys: list[Key],
    read: Callable[[list[Key]], dict[Key, ObjectItem]],
    absent_kept: Iterable[Key] = (),
) -> dict[Key, ObjectItem]:
    """The items of `keys` that exist: those kept and fresh, then `read` (ONE consistent read,
    answering by key and leaving absent ones out) of the rest — none when all are kept. What it
    found is kept, and so is the absence of the `absent_kept` keys it did not find."""
    kept, missing = fresh(account, keys)
    items = {key: item for key, item in kept.items() if item is not None}
    if missing:
        read_at = generation(account)
        found = read(missing)
        keep(account, read_at, found, absent=[k for k in absent_kept if k in missing])
        items.update(found)
    return items


def forget(account: str) -> None:
    """This process changed something of `account`: nothing kept of it answers again."""
    with _lock:
        _generations[account] = generation(account) + 1
        _size[0] -= len(_kept.pop(account, {}))


def clear() -> None:
    """Drop everything kept (tests)."""
    with _lock:
        _kept.clear()
        _size[0] = 0
