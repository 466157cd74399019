"""Read a CSV table that a user supplied, turning every parser complaint into a ``DataError``.

Tables must be UTF-8 (a byte-order mark, as Excel writes, is accepted). Any
other encoding is refused with a hint on how to re-save the file, rather than
guessed: a wrong guess silently garbles text and category names.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pandas as pd

from fusion_core.errors import DataError


def read_table(
    path: Path, *, display_name: str | None = None, text_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read ``path`` as a UTF-8 CSV with a header row into a DataFrame with index 0..N-1.

    ``text_columns`` are read as strings as they are written (ids such as ``007``
    keep their leading zeros and pair with file names).
    """
    shown = display_name or path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{shown} does not exist; check the path") from None
    except OSError as exc:
        raise DataError(f"cannot open {shown}: {exc.strerror}") from None
    return parse_table(raw, shown, text_columns=text_columns)


def parse_table(raw: bytes, shown: str, *, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Parse CSV bytes; ``shown`` names the file in error messages."""
    if not raw.strip():
        raise DataError(f"{shown} is empty; it needs a header row and one row per sample")
    text = decode_utf8(raw, shown)
    header = _header(text)
    dtypes = {name: str for name in text_columns if name in header}
    try:
        table = pd.read_csv(io.StringIO(text), dtype=dtypes or None, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{shown} is empty; it needs a header row and one row per sample") from None
    except (pd.errors.ParserError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot parse {shown} as CSV ({detail}); check the quoting and that every row has the "
            "same number of fields as the header"
        ) from None
    if table.empty:
        raise DataError(f"{shown} has a header but no rows; add one row per sample")
    counts = Counter(header)  # linear: a table may have tens of thousands of columns
    repeated = sorted(name for name, count in counts.items() if count > 1 and name)
    if repeated:
        raise DataError(
            f"{shown} has the column name {repeated[0]!r} more than once; give every column a unique name"
        )
    return table.reset_index(drop=True)


def decode_utf8(raw: bytes, shown: str) -> str:
    """Decode UTF-8, with or without a byte-order mark, or explain how to re-save the file."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{shown} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start}); "
            "re-save it as UTF-8, for example as 'CSV UTF-8' from a spreadsheet program"
        ) from None


def _header(text: str) -> list[str]:
    first_line = text.splitlines()[0] if text else ""
    try:
        return [name.strip() for name in next(csv.reader([first_line]))]
    except (csv.Error, StopIteration):
        return []
