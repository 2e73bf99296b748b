"""Field-mapping room: which column of the file feeds which field of the layer."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd

from geo.catalog import Layer
from geo.importer.problems import Problems


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def text_column(series: pd.Series) -> list[Any]:
    """Values as Python objects: missing → None, text stripped, numbers kept as numbers
    (so Excel-number codes can be refused), date/time columns as ISO text."""
    kind = series.dtype.kind
    if kind in "iub":
        return series.tolist()
    if kind == "f":
        return series.astype(object).where(series.notna(), None).tolist()
    if kind == "M":
        return _iso_texts(series)
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        stripped = series.astype(object).str.strip()
        return stripped.where(stripped.notna() & (stripped != ""), None).tolist()
    out: list[Any] = []
    for value in series.to_numpy(object):
        if _is_missing(value):
            out.append(None)
        elif isinstance(value, str):
            out.append(value.strip())
        elif isinstance(value, numbers.Number):
            out.append(value.item() if hasattr(value, "item") else value)
        else:
            out.append(str(value))
    return out


def _iso_texts(series: pd.Series) -> list[Any]:
    """A date/time column (naive or tz-aware) as ISO 8601 text, NaT → None."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        utc = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")
        texts = np.char.add(np.datetime_as_string(utc, unit="us"), "+00:00")
    else:
        texts = np.datetime_as_string(series.to_numpy("datetime64[us]"), unit="us")
    return pd.Series(texts, dtype=object).where(series.notna().to_numpy(), None).tolist()


def field_values(frame: pd.DataFrame, layer: Layer, problems: Problems) -> dict[str, list[Any]]:
    """Each layer field's values (None when absent); missing required columns reported."""
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    values: dict[str, list[Any]] = {}
    for name in layer.fields:
        column = lowered.get(name)
        if column is None:
            if name in layer.required:
                problems.add(None, name, f"required field {name!r} is missing from the file")
            values[name] = [None] * len(frame)
        else:
            values[name] = text_column(frame[column])
    return values
