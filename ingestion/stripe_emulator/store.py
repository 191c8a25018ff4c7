"""The emulator's state: objects by kind, the clock, the id sequence and idempotency records.

What it emulates:

* **IDs** carry Stripe's prefixes (``cus_``, ``in_``...) followed by a base-62 rendering of a
  global, monotonically increasing sequence number, so ids are deterministic for a given
  history and never reused within a state file.
* **Clock**: ``created`` values come from an emulated clock, the wall clock plus an offset that
  only grows (``advance_clock``), or a frozen instant when ``clock_start`` is given. It never
  goes backwards. Objects also carry a hidden ``_seq`` so "newest first" is strict even when
  many objects share a second.
* **Transactions**: a request's writes go to an undo log; a failing handler rolls them back, so
  a 400 leaves nothing behind (Stripe validates before it executes).
* **Persistence**: after every committed write the whole state is written as JSON to a
  temporary file next to ``state_path`` and renamed over it (atomic on POSIX), and it is
  reloaded at start, so a second run sees what the first created.

Simplification: one account, everything in memory, the state file rewritten in full on each
write (fine for test-sized states, not for millions of objects).
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .errors import no_such

STATE_VERSION = 1
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

Obj = dict[str, Any]


def _base62(number: int) -> str:
    digits = ""
    while True:
        number, rem = divmod(number, 62)
        digits = _ALPHABET[rem] + digits
        if number == 0:
            return digits


def _fresh(clock_start: int | None) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "seq": 0,
        "clock": {"frozen_at": clock_start, "offset": 0, "last": 0},
        "objects": {},
        "idempotency": {},
    }


class Store:
    """All emulated objects. Guard every access with :attr:`lock`."""

    def __init__(
        self, path: Path | None = None, clock_start: int | None = None, save_interval: float = 0.0
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.clock_start = clock_start
        # 0: the state file is rewritten after every write; > 0: at most every save_interval seconds
        # (the server flushes the rest in the background and on stop), for large demo runs where
        # rewriting the whole file per request would dominate.
        self.save_interval = save_interval
        self._last_save = 0.0
        self.lock = threading.RLock()
        self.data: dict[str, Any] = _fresh(clock_start)
        self._undo: list[tuple[str, str, Obj | None]] | None = None
        self._undo_seq = 0
        self.dirty = False
        if self.path is not None and self.path.exists():
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if loaded.get("version") != STATE_VERSION:
                raise ValueError(f"{self.path}: unsupported emulator state version")
            self.data = loaded
        self._reindex()

    # --- secondary indexes (kind, field) -> value -> ids: invoice items by invoice, so rendering an
    # invoice does not scan every item ever created (the demo publishes thousands of invoices)

    _INDEXED: tuple[tuple[str, str], ...] = (("invoiceitem", "invoice"),)

    def _reindex(self) -> None:
        self._index: dict[tuple[str, str], dict[Any, set[str]]] = {}
        for kind, fld in self._INDEXED:
            index = self._index[(kind, fld)] = {}
            for obj_id, obj in self._table(kind).items():
                index.setdefault(obj.get(fld), set()).add(obj_id)

    def _index_update(self, kind: str, previous: Obj | None, obj: Obj) -> None:
        for (k, fld), index in self._index.items():
            if k != kind:
                continue
            if previous is not None:
                index.get(previous.get(fld), set()).discard(previous["id"])
            index.setdefault(obj.get(fld), set()).add(obj["id"])

    def find(self, kind: str, fld: str, value: Any) -> list[Obj]:
        """Objects of an indexed kind whose ``fld`` equals ``value``, oldest first (read only)."""
        table = self._table(kind)
        objs = [table[i] for i in self._index[(kind, fld)].get(value, ()) if i in table]
        objs.sort(key=lambda o: (o.get("created", 0), o["_seq"]))
        return objs

    # --- clock --------------------------------------------------------------------------

    def now(self) -> int:
        """The emulated time in unix seconds; never decreases."""
        clock = self.data["clock"]
        base = clock["frozen_at"] if clock["frozen_at"] is not None else int(time.time())
        current = max(int(base) + int(clock["offset"]), int(clock["last"]))
        clock["last"] = current
        return current

    def advance_clock(self, seconds: int) -> int:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        with self.lock:
            self.data["clock"]["offset"] += int(seconds)
            self.dirty = True
            now = self.now()
            self.save()
            return now

    # --- ids ----------------------------------------------------------------------------

    def next_seq(self) -> int:
        self.data["seq"] += 1
        self.dirty = True
        return int(self.data["seq"])

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{_base62(self.next_seq()).rjust(14, '0')}"

    # --- objects ------------------------------------------------------------------------

    def _table(self, kind: str) -> dict[str, Obj]:
        return self.data["objects"].setdefault(kind, {})

    def get(self, kind: str, obj_id: str) -> Obj | None:
        """A deep copy of the object (mutate it, then :meth:`put` it back)."""
        obj = self._table(kind).get(obj_id)
        return copy.deepcopy(obj) if obj is not None else None

    def require(self, kind: str, obj_id: Any, param: str = "id", label: str | None = None) -> Obj:
        """The object, or Stripe's 404 ``No such <kind>: 'id'``; deleted objects count as missing."""
        obj = self.get(kind, obj_id) if isinstance(obj_id, str) else None
        if obj is None or obj.get("_deleted"):
            raise no_such(label or kind, str(obj_id), param=param)
        return obj

    def exists(self, kind: str, obj_id: str) -> bool:
        return obj_id in self._table(kind)

    def put(self, kind: str, obj: Obj) -> Obj:
        """Insert or replace an object; new objects get the hidden ordering key ``_seq``."""
        table = self._table(kind)
        previous = table.get(obj["id"])
        if self._undo is not None:
            self._undo.append((kind, obj["id"], copy.deepcopy(previous)))
        if "_seq" not in obj:
            obj["_seq"] = previous["_seq"] if previous else self.next_seq()
        table[obj["id"]] = copy.deepcopy(obj)
        self._index_update(kind, previous, obj)
        self.dirty = True
        return obj

    def all(self, kind: str) -> list[Obj]:
        """Live objects of a kind, oldest first (read only: do not mutate)."""
        objs = list(self._table(kind).values())
        objs.sort(key=lambda o: (o.get("created", 0), o["_seq"]))
        return objs

    # --- transactions -------------------------------------------------------------------

    def begin(self) -> None:
        self._undo = []
        self._undo_seq = int(self.data["seq"])

    def commit(self) -> None:
        self._undo = None
        self.save_if_due()

    def save_if_due(self) -> None:
        """Save now when every write is saved (no interval) or the interval has passed; otherwise
        the server's flusher (or stop) writes it."""
        if self.dirty and (
            self.save_interval <= 0 or time.monotonic() - self._last_save >= self.save_interval
        ):
            self.save()

    def rollback(self) -> None:
        undo, self._undo = self._undo or [], None
        for kind, obj_id, previous in reversed(undo):
            table = self._table(kind)
            if previous is None:
                table.pop(obj_id, None)
            else:
                table[obj_id] = previous
        self.data["seq"] = self._undo_seq
        if undo:
            self._reindex()

    # --- persistence --------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.data = _fresh(self.clock_start)
            self._reindex()
            self.dirty = True
            self.save()

    def save(self) -> None:
        """Write the state atomically (temp file in the same folder, then rename)."""
        self.dirty = False
        self._last_save = time.monotonic()
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            # dumps (one shot, C encoder) then one write: json.dump writes chunk by chunk, several
            # times slower on a large state
            text = json.dumps(self.data, separators=(",", ":"), sort_keys=False)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the whole state (for ``GET /_emulator/state``)."""
        with self.lock:
            return copy.deepcopy(self.data)
