"""Encodings: detected (byte-order marks, strict UTF-8, Latin-1 / Windows-1252) and reported
in each record; a file that does not decode is refused naming the line, nothing imported."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from syncbridge_csv import CsvConnector, CsvRowError

from tests.connectors.csv.support import connector, pages, records, refusal, rows, stream

#: A row whose asset name needs more than ASCII in every encoding below.
SAMPLE = rows("2026-11-01,Café Zürich,10,1.50", "2026-11-02,naïve façade,3,0")


#: Cyrillic text (written as escapes: it looks like Latin letters in an editor).
CYRILLIC = "\u0420\u043e\u0433\u0430 \u0438 \u043a\u043e\u043f\u044b\u0442\u0430"


async def _refusal(made: CsvConnector) -> CsvRowError:
    """The error of a read that must fail before yielding any record."""
    error, seen = await refusal(made)
    assert seen == [], "nothing of a refused file is imported"
    return error


@pytest.mark.parametrize(
    ("data", "reported"),
    [
        (SAMPLE.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + SAMPLE.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + SAMPLE.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + SAMPLE.encode("utf-16-be"), "utf-16-be"),
        (codecs.BOM_UTF32_LE + SAMPLE.encode("utf-32-le"), "utf-32-le"),
        (SAMPLE.encode("latin-1"), "iso-8859-1"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "utf-32-le", "latin-1"],
)
async def test_the_encoding_is_detected_and_reported(
    root: Path, data: bytes, reported: str
) -> None:
    (root / "export.csv").write_bytes(data)
    got = await records(connector(root))
    assert [r.data["asset"] for r in got] == ["Café Zürich", "naïve façade"]
    assert {r.data["_source"]["encoding"] for r in got} == {reported}


async def test_windows_1252_punctuation_is_read_as_windows_1252(root: Path) -> None:
    # 0x80 and 0x93/0x94 are the euro sign and curly quotes in Windows-1252, but control
    # characters in ISO-8859-1.
    text = rows('2026-11-01,"€ “Spring” sale",1,0')
    (root / "export.csv").write_bytes(text.encode("cp1252"))
    (record,) = await records(connector(root))
    assert record.data["asset"] == "€ “Spring” sale"
    assert record.data["_source"]["encoding"] == "windows-1252"


async def test_a_declared_encoding_is_used_and_reported(root: Path) -> None:
    text = rows(f"2026-11-01,{CYRILLIC},1,0")
    (root / "export.csv").write_bytes(text.encode("cp1251"))
    made = connector(root, streams={"exports": stream(encoding="cp1251")})
    (record,) = await records(made)
    assert record.data["asset"] == CYRILLIC
    assert record.data["_source"]["encoding"] == "cp1251"


async def test_a_non_latin_8_bit_file_is_refused_rather_than_garbled(root: Path) -> None:
    text = rows(*(f"2026-11-{d:02d},{CYRILLIC} {d},1,0" for d in range(1, 20)))
    (root / "export.csv").write_bytes(text.encode("cp1251"))
    error = await _refusal(connector(root))
    assert (error.file, error.line) == ("export.csv", 2)
    assert "cp1251" in error.reason
    assert "declare the stream's encoding" in error.reason


async def test_utf_16_without_a_byte_order_mark_is_refused(root: Path) -> None:
    (root / "export.csv").write_bytes(SAMPLE.encode("utf-16-le"))
    error = await _refusal(connector(root))
    assert (error.file, error.line, error.column) == ("export.csv", 1, None)
    assert "NUL byte" in error.reason


async def test_a_declared_encoding_the_file_breaks_names_the_line(root: Path) -> None:
    text = rows("2026-11-01,plain,1,0", "2026-11-02,Müller,2,0")
    (root / "export.csv").write_bytes(text.encode("latin-1"))
    made = connector(root, streams={"exports": stream(encoding="utf-8")})
    error = await _refusal(made)
    assert (error.file, error.line, error.column) == ("export.csv", 3, None)
    assert "0xfc" in error.reason
    assert "utf-8" in error.reason
    assert "export.csv, line 3" in str(error)


async def test_a_broken_character_in_a_detected_encoding_names_the_line(root: Path) -> None:
    # A byte-order mark says UTF-16, then line 4 holds a lone surrogate.
    good = rows("2026-11-01,a,1,0", "2026-11-02,b,2,0").encode("utf-16-le")
    bad = "2026-11-03,".encode("utf-16-le") + b"\x00\xd8" + ",3,0\r\n".encode("utf-16-le")
    (root / "export.csv").write_bytes(codecs.BOM_UTF16_LE + good + bad)
    error = await _refusal(connector(root))
    assert (error.file, error.line) == ("export.csv", 4)
    assert "utf-16-le" in error.reason


async def test_a_file_cut_inside_a_character_is_refused(root: Path) -> None:
    data = codecs.BOM_UTF16_LE + SAMPLE.encode("utf-16-le")
    (root / "export.csv").write_bytes(data[:-1])
    error = await _refusal(connector(root))
    assert "ends inside a character" in error.reason


async def test_a_bad_file_in_a_crlf_multiline_export_is_located_exactly(root: Path) -> None:
    # A quoted value spanning two lines: the physical line count still names the bad byte.
    text = rows('2026-11-01,"two\r\nlines",1,0', "2026-11-02,fine,2,0")
    data = text.encode("utf-8") + b"2026-11-03,\xff,3,0\r\n"
    (root / "export.csv").write_bytes(data)
    made = connector(root, streams={"exports": stream(encoding="utf-8")})
    error = await _refusal(made)
    assert error.line == 5


async def test_good_files_are_read_whatever_their_encodings(root: Path) -> None:
    (root / "a.csv").write_bytes(rows("2026-11-01,Zoë,1,0").encode("utf-8-sig"))
    (root / "b.csv").write_bytes(rows("2026-11-02,Zoë,1,0").encode("utf-16"))
    (root / "c.csv").write_bytes(rows("2026-11-03,Zoë,1,0").encode("latin-1"))
    read = await pages(connector(root))
    encodings = [r.data["_source"]["encoding"] for p in read for r in p.records]
    assert encodings == ["utf-8-sig", "utf-16-le", "iso-8859-1"]
