"""The errors a store raises (kept apart so the store modules and the API import them without each other)."""

from __future__ import annotations

from gis.errors import TsunaguError


class StoreError(TsunaguError):
    """A store that cannot be opened or written (not a problem with the user's data).

    The message is Japanese; ``en=`` keeps the English for the log (see :class:`gis.errors.TsunaguError`).
    """


class WorkspaceNotInitialised(StoreError):
    """The workspace has no city profile yet: run ``tsunagu demo`` or an import first."""


class JobStateError(StoreError):
    """A job that does not exist, or a change its status does not allow (a finished job is immutable)."""


class JobLeaseLost(JobStateError):
    """A worker wrote to a job it no longer holds (its lease ran out and the job was re-queued or ended)."""
