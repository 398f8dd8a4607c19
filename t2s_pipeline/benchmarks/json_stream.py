"""Read the records of a JSON array file one at a time, in bounded memory, surviving broken records.

A benchmark file is a JSON array of objects (SynSQL's data.json has 2.5 million of them, several GB),
so it is read in chunks and each element decoded with `json.JSONDecoder.raw_decode`; only the
current chunk and the record being decoded are held. Concatenated objects (JSON lines) read too.

A broken element becomes one `(None, "malformed JSON at char N")` and reading goes on at the next
element; two broken elements in a row are skipped together, as one. A file that ends before its
top-level array closes (an interrupted download) is not a broken record but a broken file: reading
stops with TruncatedJSONError, naming the file and the byte offset, so no load silently keeps a prefix.

ijson's C backend (yajl2_c) reads a large array about 2x faster (bench/json_stream_speed.py) and
reports truncation, but it stops at the first broken element, where a loader must reject that one
record and read on; so the reading stays here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

CHUNK_CHARS = 1 << 20
# A record longer than this is treated as broken rather than read on without end (an unclosed string).
MAX_RECORD_CHARS = 64 << 20
# A decode error this close to the end of the chunk may only mean the record goes on in the next one.
_NEAR_END = 64
_SPACE = " \t\r\n"


class TruncatedJSONError(ValueError):
    """The file ends before its top-level array closes."""


def iter_json_records(path: str | Path, chunk_chars: int = CHUNK_CHARS) -> Iterator[tuple[object, str | None]]:
    """Yield (record, None) per element of the file's top-level array, or (None, detail) for a broken one.

    A file holding one JSON value that is not an array is an error (ValueError), not a record; a
    file that ends inside its top-level array is TruncatedJSONError.
    """
    # newline="": chars map one to one onto the file's text, so an error's char offset gives its byte offset.
    with open(path, encoding="utf-8", newline="") as f:
        window = _Window(f, chunk_chars)
        window.skip(_SPACE)
        in_array = window.peek() == "["
        if in_array:
            window.pos += 1
        first = True
        while True:
            window.compact()
            window.skip(_SPACE + ",")
            if window.at_end():
                if in_array:
                    raise _truncated(path, window.offset + window.pos, "no `]` after byte {}")
                return
            if in_array and window.peek() == "]":
                return
            start = window.pos
            try:
                record, end = window.decode(start)
                if not window.ends_element(end):  # e.g. a stray `}` closed the record early
                    raise json.JSONDecodeError("element continues", window.text, end)
            except json.JSONDecodeError as e:
                if in_array and window.cut_short(e):
                    raise _truncated(path, window.offset + start, "the element at byte {} is cut short") from None
                yield None, f"malformed JSON at char {window.offset + e.pos}"
                window.pos = window.next_element_start(start)
                first = False
                continue
            window.pos = end
            if first and not in_array and window.only_space_left():
                raise ValueError(f"{path}: expected a JSON array of records, got {type(record).__name__}")
            first = False
            yield record, None


def _truncated(path, char_offset: int, where: str) -> TruncatedJSONError:
    size = Path(path).stat().st_size
    return TruncatedJSONError(
        f"{path}: truncated JSON array: the file ends at byte {size} before its top-level array closes "
        f"({where.format(_byte_offset(path, char_offset))}); an interrupted download? The load stops here")


def _byte_offset(path, char_offset: int) -> int:
    """The byte offset of a char offset: the file's text re-read up to it (only on an error)."""
    n_bytes, left = 0, char_offset
    with open(path, encoding="utf-8", newline="") as f:
        while left > 0 and (chunk := f.read(min(left, CHUNK_CHARS))):
            n_bytes += len(chunk.encode("utf-8"))
            left -= len(chunk)
    return n_bytes


class _Window:
    """The unread part of the file: `text` from char `offset` on, read position `pos` inside it."""

    def __init__(self, file, chunk_chars: int):
        self.file, self.chunk_chars = file, chunk_chars
        self.text, self.pos, self.offset, self.eof = "", 0, 0, False
        self.decoder = json.JSONDecoder()

    def more(self) -> bool:
        """Append the next chunk; False at the end of the file."""
        if self.eof:
            return False
        chunk = self.file.read(self.chunk_chars)
        if not chunk:
            self.eof = True
            return False
        self.text += chunk
        return True

    def compact(self) -> None:
        """Drop what was read, so the window stays about one chunk long."""
        if self.pos > self.chunk_chars:
            self.text, self.offset, self.pos = self.text[self.pos:], self.offset + self.pos, 0

    def char_at(self, i: int) -> str:
        """The char at i, reading on as needed; "" at the end of the file."""
        while i >= len(self.text) and self.more():
            pass
        return self.text[i] if i < len(self.text) else ""

    def peek(self) -> str:
        return self.char_at(self.pos)

    def at_end(self) -> bool:
        return self.peek() == ""

    def skip_from(self, i: int, chars: str) -> int:
        while (c := self.char_at(i)) and c in chars:
            i += 1
        return i

    def skip(self, chars: str) -> None:
        self.pos = self.skip_from(self.pos, chars)

    def only_space_left(self) -> bool:
        return self.char_at(self.skip_from(self.pos, _SPACE)) == ""

    def cut_short(self, error: json.JSONDecodeError) -> bool:
        """Whether a decode error comes from the end of the file: the element was cut, not written wrong.

        An unterminated string runs to the end of the file by definition; any other error that sits
        at the end (only whitespace after it) wanted more text than the file has.
        """
        if not self.eof:  # given up on a record longer than MAX_RECORD_CHARS: a broken record
            return False
        return error.msg.startswith("Unterminated string") or self.char_at(self.skip_from(error.pos, _SPACE)) == ""

    def decode(self, i: int):
        """raw_decode at i, reading on while the failure or the value may run past the window."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.text, i)
            except json.JSONDecodeError as e:
                truncated = e.msg.startswith("Unterminated string") or e.pos >= len(self.text) - _NEAR_END
                if truncated and len(self.text) - i < MAX_RECORD_CHARS and self.more():
                    continue
                raise
            # A number near the window's end may go on (`-25` of `-2500.0`): look further first.
            if len(self.text) - end >= _NEAR_END or not self.more():
                return value, end

    def ends_element(self, end: int, strict: bool = False) -> bool:
        """Whether a whole element ends at `end`: the next element, or the array's end, follows.

        strict (resyncing inside a broken record): the array's `]` must also end the file, and the
        next element must be an object, so that an object nested in a record does not qualify.
        """
        after = self.skip_from(end, _SPACE)
        if self.char_at(after) == ",":
            after = self.skip_from(after + 1, _SPACE)
        c = self.char_at(after)
        if c == "":
            return True
        if c == "]":
            return not strict or self.char_at(self.skip_from(after + 1, _SPACE)) == ""
        if c == "{" or strict:
            return c == "{"
        if c == "[":
            return True
        # A scalar element (a string, a number) is fine when it is whole; `"key": ...` after a stray `}` is not.
        try:
            _, scalar_end = self.decode(after)
        except json.JSONDecodeError:
            return False
        return self.char_at(self.skip_from(scalar_end, _SPACE)) in (",", "]", "")

    def closing_bracket(self, i: int) -> int:
        """After the last element broke: the array's closing `]` when the text ends with it, else the end."""
        end = len(self.text)
        last = self.text.rstrip(_SPACE)
        if self.eof and len(last) > i and last.endswith("]"):
            return len(last) - 1
        return end

    def next_element_start(self, i: int) -> int:
        """The next `{` after i that starts a whole element, else the end of what was read.

        A bracket count cannot be trusted inside a broken record (an unclosed quote swallows the rest),
        so each `{` is tried instead: it must follow `,`, `[` or `}` (not a key's `:`), decode, and be
        followed by the next element or the array's end, which rules out objects nested in a record.
        """
        search_from = i + 1
        while True:
            candidate = self.text.find("{", search_from)
            if candidate == -1:
                search_from = len(self.text)
                if len(self.text) - i < MAX_RECORD_CHARS and self.more():
                    continue
                return self.closing_bracket(i)
            j = candidate - 1
            while j >= 0 and self.text[j] in _SPACE:
                j -= 1
            if j < 0 or self.text[j] in ",[}":
                try:
                    _, end = self.decode(candidate)
                    if self.ends_element(end, strict=True):
                        return candidate
                except json.JSONDecodeError:
                    pass
            search_from = candidate + 1
