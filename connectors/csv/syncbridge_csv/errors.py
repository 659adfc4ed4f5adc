"""Why a CSV file or an upload is refused.

PermanentConnectorError (syncbridge.connector.errors)
+-- CsvRowError           a file is refused: file, line, column and reason (bad value,
|                         header, encoding, duplicate key...); nothing of it is imported
+-- UploadRefused         an upload's name or content is refused (400)
    +-- UploadTooLarge    an upload went past its size cap (413)
"""

from __future__ import annotations

from syncbridge.connector.errors import PermanentConnectorError


class CsvRowError(PermanentConnectorError):
    """A CSV file is refused because of one place in it; the whole file is not imported.

    ``line`` is the 1-based physical line where the offending row starts (1 is the header);
    ``column`` is the source column header, or None when the problem is not in one column
    (an undecodable byte, a malformed quote, a row of the wrong length).
    """

    status = 422
    title = "CSV file refused"

    def __init__(self, file: str, line: int, column: str | None, reason: str) -> None:
        where = f"column {column!r}" if column is not None else "no single column"
        super().__init__(
            f"{file}, line {line}, {where}: {reason}",
            extra={"file": file, "line": line, "column": column, "reason": reason},
        )
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason


class UploadRefused(PermanentConnectorError):
    """An upload is refused: its name would leave the folder, is not a ``.csv``, or its
    content is not a valid export of any stream."""

    status = 400
    title = "Upload refused"


class UploadTooLarge(UploadRefused):
    """An upload went past the size cap; nothing was stored."""

    status = 413
    title = "Upload too large"
