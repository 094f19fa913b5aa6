"""Layout checks of booster files whose own parsers crash on damaged input.

LightGBM 4.7 and XGBoost 3.2 abort or crash the whole process, instead of
raising, on some damaged files (a truncated upload, for example). A service
must not go down for one bad upload, so these checks run first and return
what is wrong, or None for a file that can be handed to the library.
"""

from __future__ import annotations

import re
import struct

# UBJSON integer markers, as XGBoost writes lengths and counts.
_INTEGER_FORMATS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
# Sizes in bytes of the fixed-size UBJSON values.
_FIXED_SIZES = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8, b"d": 4, b"D": 8, b"C": 1}
_MAX_DEPTH = 64


class _Damaged(Exception):
    """A layout error that _UBJSONReader found."""


class _UBJSONReader:
    """Walk a UBJSON document without building it, checking every length."""

    def __init__(self, data: bytes):
        self.data = data
        self.position = 0

    def take(self, size: int) -> bytes:
        end = self.position + size
        if size < 0 or end > len(self.data):
            raise _Damaged(f"the data ends inside a value at byte {self.position}")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def integer(self, marker: bytes) -> int:
        layout = _INTEGER_FORMATS.get(marker)
        if layout is None:
            raise _Damaged(f"expected a length at byte {self.position - 1}, found {marker!r}")
        return struct.unpack(layout, self.take(struct.calcsize(layout)))[0]

    def value(self, marker: bytes, depth: int) -> None:
        if marker in _FIXED_SIZES:
            self.take(_FIXED_SIZES[marker])
        elif marker in (b"T", b"F", b"Z", b"N"):
            return
        elif marker in (b"S", b"H"):
            self.take(self.integer(self.take(1)))
        elif marker in (b"[", b"{"):
            self.container(is_object=marker == b"{", depth=depth + 1)
        else:
            raise _Damaged(f"unknown value marker {marker!r} at byte {self.position - 1}")

    def container(self, *, is_object: bool, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _Damaged(f"containers nest deeper than {_MAX_DEPTH} levels")
        item_type = None
        marker = self.take(1)
        if marker == b"$":
            item_type = self.take(1)
            marker = self.take(1)
            if marker != b"#":
                raise _Damaged(f"a typed container lacks its count at byte {self.position - 1}")
        if marker == b"#":
            count = self.integer(self.take(1))
            if count < 0:
                raise _Damaged(f"negative count {count} at byte {self.position}")
            if item_type in _FIXED_SIZES and not is_object:
                self.take(count * _FIXED_SIZES[item_type])
                return
            for _ in range(count):
                if is_object:
                    self.take(self.integer(self.take(1)))
                self.value(item_type or self.take(1), depth)
            return

        end = b"}" if is_object else b"]"
        while marker != end:
            if is_object:
                # An object key is a length and the name's bytes, without "S".
                self.take(self.integer(marker))
                marker = self.take(1)
            self.value(marker, depth)
            marker = self.take(1)


def check_ubjson(data: bytes) -> str | None:
    """Return what is wrong with a UBJSON document, or None."""
    # NOTE: only the layout is checked. XGBoost 3.2 also crashed on a file in
    # which one changed byte left the layout valid.
    reader = _UBJSONReader(data)
    try:
        reader.value(reader.take(1), depth=0)
    except _Damaged as damage:
        return str(damage)
    if reader.position != len(data):
        return f"{len(data) - reader.position} bytes follow the end of the document"
    return None


def check_lightgbm_layout(data: bytes) -> str | None:
    """Return what is wrong with the sections of a LightGBM model file, or None.

    With LightGBM 4.7, trees that did not match the ``tree_sizes`` line
    aborted the process, and a parameters section cut short crashed it.
    """
    # NOTE: LightGBM 4.7 also crashed on some single changed bytes inside a
    # tree and on bytes removed inside the parameters section, which these
    # checks do not catch.
    found = re.search(rb"^tree_sizes=([0-9 ]*)$", data, flags=re.MULTILINE)
    if found is not None:
        # tree_sizes gives each tree's length in bytes, blank lines included.
        start = data.find(b"Tree=0\n")
        for index, size in enumerate(int(size) for size in found.group(1).split()):
            if start < 0 or not data.startswith(b"Tree=%d\n" % index, start):
                return f"tree {index} is not where the tree_sizes line puts it"
            start += size
        if not data.startswith(b"end of trees", start):
            return "the trees do not end where the tree_sizes line says"
    elif b"\nend of trees" not in data:
        return "the line 'end of trees' is missing"
    if b"\nparameters:" in data and b"\nend of parameters" not in data:
        return "the line 'end of parameters' is missing"
    return None
