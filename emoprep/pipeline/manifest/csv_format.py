"""A dataset's own CSV list read as ``videos.csv``: a preset may declare its release's column
names (``PresetSpec.csv_columns``) and label codes (``PresetSpec.csv_codes``), e.g. AffectNet's
``subDirectory_filePath`` and numeric ``expression`` columns (docs/MANIFEST.md, "affectnet")."""

from __future__ import annotations


def csv_hint(columns: dict[str, str]) -> str:
    """The preset's own path column, for the error of a CSV without a ``path`` column."""
    own = [k for k, v in columns.items() if v == "path"]
    return f"; this preset also reads its dataset's column {own[0]!r}" if own else ""


def csv_row(raw: dict[str, str | None], columns: dict[str, str]) -> dict[str, str]:
    """A CSV row as emoprep's columns: with ``columns`` (a preset's CSV format) only the columns
    it names, renamed; without, every column. Cells stripped."""
    row = {k.strip(): (c or "").strip() for k, c in raw.items()}
    if not columns:
        return row
    return {columns[k]: v for k, v in row.items() if k in columns}


def decode_codes(codes: dict[str, dict[str, str]], cells: dict[str, str]) -> dict[str, str] | str:
    """Label cells with their codes decoded (``{"emotion": "1"}`` -> ``{"emotion": "happy"}``), or
    why the row is left out: a code that is no class (AffectNet's 8-10)."""
    out = dict(cells)
    for key, table in codes.items():
        if key in out:
            if out[key] not in table:
                known = ", ".join(f"{k} {v}" for k, v in table.items())
                return f"{key} code {out[key]!r} is no class of this preset (known: {known})"
            out[key] = table[out[key]]
    return out
