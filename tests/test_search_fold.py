"""fold(), the lower case a search compares in: the list's byte search (web/tasks/search.py)
and the history's SQL (web/history.py, over names folded when stored) both rely on it."""

from __future__ import annotations

import sys

from web.tasks.search import fold

# Every character that lower() changes (fold() changes no other).
CASED = [c for c in map(chr, range(sys.maxunicode + 1)) if c.lower() != c]


def test_ascii_and_caseless_letters_of_a_folded_text_are_its_own() -> None:
    # The list looks for the ASCII and caseless part of a query in the name's bytes
    # lowered by bytes.lower(): that is sound only if folding never makes such a letter
    # out of another one (as str.lower() makes "k" of the Kelvin sign).
    for char in CASED:
        folded = fold(char)
        if char.isascii():
            assert folded == char.lower()
        elif folded != char:
            assert all(not c.isascii() and c.lower() != c.upper() for c in folded), hex(ord(char))
        assert fold(folded) == folded  # a folded query or name folds to itself


def test_fold_is_lower_case_but_for_the_letters_whose_lower_case_is_ascii() -> None:
    assert fold("Été à ZÜRICH, ΩMEGA, STRASSE") == "été à zürich, ωmega, strasse"
    assert fold("\u212a\u0130 K") == "\u212a\u0130 k"  # the Kelvin sign and İ stay
