"""Which tasks match the list's filters, read from the JSON that memory keeps of every task:
a kind (exact), and a search text (in the name, in any case, or at the start of the id).
"In any case" is fold() below, which the history's SQL search (web/history.py) shares.

A finished task is in memory only as its JSON (web/tasks/ledger.py), so that is what the
filters read. Task._render writes task_id, name and kind first, each a JSON string; inside
a JSON string every quote is escaped, so the first `","name":"` and `","kind":"` of a row
are the fields' own boundaries. A row is ruled out by two or three C calls on its first
bytes (find, startswith, lower); only the rows that may match are looked at further.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

ID = b'{"task_id":"'
NAME = b'","name":"'
KIND = b'","kind":"'
ESCAPE = b"\\"
# Non-ASCII letters whose lower case is, or holds, an ASCII letter (the Kelvin sign's is "k",
# İ's an "i" and a dot): fold() leaves them as they are, so a search for "k" or "i" means
# those letters, and every ASCII letter of a folded name is one of the name's own, which
# the byte search below relies on (tests/test_search_fold.py checks every code point).
_KEPT = "\u0130\u212a"


def fold(text: str) -> str:
    """Text as a search compares it: in lower case, letters beyond ASCII too."""
    if "\u0130" not in text and "\u212a" not in text:  # as good as always: two C scans
        return text.lower()
    return "".join(c if c in _KEPT else c.lower() for c in text)


def _text(value: str) -> bytes:
    """A str as Task._render writes it inside a JSON string (UTF-8, quotes left off)."""
    return json.encoder.encode_basestring(value)[1:-1].encode()  # type: ignore[attr-defined]


def matching(ids: list[str], rows: list[bytes], kind: str | None, query: str) -> list[str]:
    """The ids (in their order) whose JSON row matches; `rows[i]` is the JSON of `ids[i]`."""
    picked: Iterable[int] = range(len(rows))
    if kind is not None:
        # The kind field is the first `","kind":"`; startswith there reads no further.
        field = KIND + _text(kind) + b'","duration":'
        picked = [n for n in picked if (r := rows[n]).startswith(field, r.find(KIND))]
    if query:
        picked = _named(rows, picked, fold(query))
    return [ids[n] for n in picked]


def _named(rows: list[bytes], picked: Iterable[int], query: str) -> list[int]:
    probe, whole = _probe(query)
    # The id and name, lowered (bytes.lower() folds ASCII letters only, which is all the
    # probe relies on): most rows are ruled out here, by two calls each.
    heads = {
        n: head for n in picked if probe in (head := (r := rows[n])[len(ID) : r.find(KIND)].lower())
    }
    by_id = _text(query)
    found = []
    for n, head in heads.items():
        if whole and head.startswith(by_id):
            found.append(n)
            continue
        name = head[head.find(NAME) + len(NAME) :]
        # Read as text where bytes could mislead: an escape in the name (`\t` holds a
        # "t"), or a query with letters bytes.lower() cannot fold (É).
        if probe in name and ((whole and ESCAPE not in name) or query in _text_of(name)):
            found.append(n)
    return found


def _probe(query: str) -> tuple[bytes, bool]:
    """The longest part of the query whose bytes, lowered, can be looked for in the lowered
    bytes of a name; and whether that part is the whole query."""
    parts, part = [], ""
    for char in query:
        if char.isascii() or char.lower() == char.upper():  # no case to fold beyond ASCII
            part += char
        else:
            parts.append(part)
            part = ""
    parts.append(part)
    probe = max(parts, key=len)
    return _text(probe), probe == query


def _text_of(name: bytes) -> str:
    """A name's lowered JSON bytes back as folded text (JSON escapes are lower case)."""
    return fold(json.loads(b'"' + name + b'"'))
