"""Domain errors raised by the analysis core; the API maps them to HTTP statuses.

Every message a user can see is Japanese. The English wording is kept beside it (``en=``) for the
log and for users who ask for it (``tsunagu --lang en`` or ``TSUNAGU_LANG=en``):

    raise InputDataError("経度が数値ではありません", en="longitude is not a number", source="a.csv")
"""

from __future__ import annotations

import os

#: Environment variable that selects the language of messages (``ja``, the default, or ``en``).
LANG_ENV = "TSUNAGU_LANG"


def wants_english() -> bool:
    """Return True when the user asked for English messages (``TSUNAGU_LANG=en``)."""
    return os.environ.get(LANG_ENV, "ja").strip().lower().startswith("en")


class TsunaguError(Exception):
    """Base class of every error Tsunagu raises on purpose.

    Parameters
    ----------
    message
        What is wrong, in Japanese (what users see).
    en
        The same in English, for the log and ``--lang en``; defaults to the Japanese text.
    """

    def __init__(self, message: str = "", *args, en: str | None = None) -> None:
        self.japanese = str(message)
        self.english = en if en is not None else self.japanese
        super().__init__(self.english if wants_english() else self.japanese, *args)


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
        en: str | None = None,
        hint_en: str | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.row = row
        self.feature = feature
        self.hint = hint
        self.reason_en = en
        self.hint_en = hint_en
        super().__init__(self._compose(), en=self._compose(english=True))

    def _compose(self, *, english: bool = False) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.row is not None:
            where.append(f"row {self.row}" if english else f"{self.row}行目")
        if self.feature is not None:  # a feature's number in a file, else the item (field, stop, area) concerned
            feature = str(self.feature)
            if english:
                where.append(f"feature {feature}" if feature[:1].isdigit() else f"'{feature}'")
            else:
                where.append(f"地物 {feature}" if feature[:1].isdigit() else f"項目「{feature}」")
        reason = (self.reason_en or self.reason) if english else self.reason
        hint = (self.hint_en or self.hint) if english else self.hint
        text = (": ".join(where) + ": " if where else "") + reason
        if hint:
            text += f" — {hint}"
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
