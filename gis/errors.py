"""Domain errors raised by the analysis core; the API maps them to HTTP statuses."""

from __future__ import annotations


class TsunaguError(Exception):
    """Base class of every error Tsunagu raises on purpose."""


class InputDataError(TsunaguError, ValueError):
    """Input data that cannot be used as given.

    The message names where the problem is (file, row, feature) and what to do about it.

    Parameters
    ----------
    message
        What is wrong, in one sentence.
    source
        File name (or upload name) the problem is in.
    row
        1-based data row (CSV/Excel) or feature number, when known.
    feature
        Identifier or name of the feature, when known.
    hint
        What the user can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        feature: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.row = row
        self.feature = feature
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.row is not None:
            where.append(f"{self.row}行目")
        if self.feature is not None:  # a feature's number in a file, else the item (field, stop, area) concerned
            feature = str(self.feature)
            where.append(f"地物 {feature}" if feature[:1].isdigit() else f"項目「{feature}」")
        text = (": ".join(where) + ": " if where else "") + self.reason
        if self.hint:
            text += f" — {self.hint}"
        return text

    def as_dict(self) -> dict:
        """Return the error as a JSON-ready mapping (for API responses and reports)."""
        return {
            "message": str(self),
            "reason": self.reason,
            "source": self.source,
            "row": self.row,
            "feature": self.feature,
            "hint": self.hint,
        }


class NestingError(InputDataError):
    """Tiers that do not nest (an area straddling parents, when nesting is strict)."""


class UnknownMunicipalityError(InputDataError):
    """A municipality code that the data does not contain."""


class DataNotFoundError(TsunaguError, FileNotFoundError):
    """A data file or folder that is not where Tsunagu looked; the message says where to get it."""
