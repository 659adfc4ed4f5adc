"""Which encoding a CSV file is in, and where a file stops decoding.

Detection (``encoding: auto``), in this order:

1. a byte-order mark: UTF-8 (``utf-8-sig``), UTF-32 or UTF-16, little or big endian;
2. no mark, and the whole file is strict UTF-8: ``utf-8`` (plain ASCII is UTF-8 too);
3. otherwise an 8-bit Western export: ``windows-1252`` when a byte in 0x80-0x9F occurs (in
   ISO-8859-1 those are control characters no text contains; Excel writes curly quotes and
   the euro sign there), else ``iso-8859-1``. Before settling on that, ``charset-normalizer``
   reads a sample: when the text reads best in a non-Latin script (Cyrillic, Greek, CJK...),
   the file is refused with a request to declare its encoding, instead of being imported as
   mojibake.

A file without a byte-order mark that contains NUL bytes is refused: it is UTF-16 or UTF-32
without a mark, and guessing its byte order would be a coin toss. Every pass reads the file
in chunks: memory does not grow with the file.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import BinaryIO

from charset_normalizer import from_bytes

from syncbridge_csv.errors import CsvRowError

CHUNK_BYTES = 1024 * 1024
#: How much of a non-UTF-8 file charset-normalizer reads to name its script.
SAMPLE_BYTES = 256 * 1024
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16-be"),
)
_C1_BYTES = re.compile(rb"[\x80-\x9f]")
#: Unicode blocks of text that Latin-1 / Windows-1252 can hold (charset-normalizer's names).
_LATIN_BLOCKS = frozenset(
    {
        "Basic Latin",
        "Control character",
        "Latin-1 Supplement",
        "Latin Extended-A",
        "Latin Extended-B",
        "Latin Extended Additional",
        "General Punctuation",
        "Currency Symbols",
        "Letterlike Symbols",
        "Spacing Modifier Letters",
        "Number Forms",
    }
)


@dataclass(frozen=True)
class Encoding:
    """How a file is decoded (``codec``) and what is reported (``name``)."""

    codec: str
    name: str


def detect(handle: BinaryIO, declared: str, file: str) -> Encoding:
    """The encoding of the file open in ``handle`` (left at its start).

    ``declared`` is the stream's setting: a codec name is used as it is, ``auto`` detects.
    Raises :class:`CsvRowError` for a file that cannot be decoded with any confidence.
    """
    head = handle.read(4)
    handle.seek(0)
    if declared != "auto":
        return Encoding(declared, declared)
    for bom, codec, name in _BOMS:
        if head.startswith(bom):
            return Encoding(codec, name)
    return _scan_unmarked(handle, file)


def _scan_unmarked(handle: BinaryIO, file: str) -> Encoding:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    is_utf8, has_c1, lines = True, False, 0
    first_bad_line: int | None = None
    sample = b""
    while chunk := handle.read(CHUNK_BYTES):
        if len(sample) < SAMPLE_BYTES:
            sample += chunk[: SAMPLE_BYTES - len(sample)]
        nul = chunk.find(b"\x00")
        if nul >= 0:
            line = lines + chunk.count(b"\n", 0, nul) + 1
            raise CsvRowError(
                file,
                line,
                None,
                "a NUL byte: the file looks like UTF-16 or UTF-32 without a byte-order mark; "
                "declare the stream's encoding",
            )
        if is_utf8:
            # Bytes of a character cut at the previous chunk's end come first in the
            # decoder's input: the error's offset counts them.
            carried = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, False)
            except UnicodeDecodeError as exc:
                is_utf8 = False
                bad = max(0, exc.start - carried)
                first_bad_line = lines + chunk.count(b"\n", 0, bad) + 1
        has_c1 = has_c1 or _C1_BYTES.search(chunk) is not None
        lines += chunk.count(b"\n")
    handle.seek(0)
    if is_utf8:
        try:
            decoder.decode(b"", True)
        except UnicodeDecodeError:
            is_utf8, first_bad_line = False, lines + 1
    if is_utf8:
        return Encoding("utf-8", "utf-8")
    _refuse_non_latin(sample, file, first_bad_line or 1)
    return Encoding("cp1252", "windows-1252") if has_c1 else Encoding("latin-1", "iso-8859-1")


def _refuse_non_latin(sample: bytes, file: str, line: int) -> None:
    best = from_bytes(sample).best()
    if best is None:
        return  # no opinion: decoding as Latin-1 and the header check decide
    foreign = sorted(set(best.alphabets) - _LATIN_BLOCKS)
    if foreign:
        raise CsvRowError(
            file,
            line,
            None,
            f"not UTF-8, and as 8-bit text it reads as {best.encoding} "
            f"({', '.join(foreign)}) rather than Latin-1; declare the stream's encoding",
        )


def locate_decode_error(handle: BinaryIO, codec: str) -> tuple[int, str]:
    """The 1-based line of the first byte ``codec`` cannot decode, and why (its error).

    Reads from the start in chunks; only the chunk that fails is decoded byte by byte.
    Returns ``(lines + 1, "...")`` at the end when the file ends inside a character.
    """
    handle.seek(0)
    decoder = codecs.getincrementaldecoder(codec)("strict")
    counter = _LineCounter()
    while chunk := handle.read(CHUNK_BYTES):
        state = decoder.getstate()
        try:
            counter.feed(decoder.decode(chunk, False))
            continue
        except UnicodeDecodeError:
            decoder.setstate(state)
        for offset in range(len(chunk)):
            try:
                counter.feed(decoder.decode(chunk[offset : offset + 1], False))
            except UnicodeDecodeError as exc:
                return counter.line, _decode_reason(codec, chunk[offset : offset + 1], exc)
    try:
        decoder.decode(b"", True)
    except UnicodeDecodeError as exc:
        return counter.line, f"the file ends inside a character ({exc.reason})"
    return counter.line, f"cannot be decoded as {codec}"


def _decode_reason(codec: str, last: bytes, exc: UnicodeDecodeError) -> str:
    return f"byte 0x{last.hex()} cannot be decoded as {codec} ({exc.reason})"


class _LineCounter:
    """Counts universal newlines (``\\n``, ``\\r\\n``, ``\\r``) across fed pieces of text."""

    def __init__(self) -> None:
        self.terminators = 0
        self._after_cr = False

    @property
    def line(self) -> int:
        return self.terminators + 1

    def feed(self, text: str) -> None:
        if not text:
            return
        count = text.count("\n") + text.count("\r") - text.count("\r\n")
        if self._after_cr and text.startswith("\n"):
            count -= 1  # the \n completes a \r\n split across two pieces
        self.terminators += count
        self._after_cr = text.endswith("\r")
