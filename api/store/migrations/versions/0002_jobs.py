"""Analysis jobs: one row per run (parameters, status, progress, data version, result) and its tables.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.name", ondelete="CASCADE"), nullable=False),
        sa.Column("analysis", sa.Text, nullable=False),
        sa.Column("params", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("started_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("finished_at", sa.TIMESTAMP(timezone=True)),
        sa.Column("data_version", sa.Text, nullable=False, server_default=""),
        sa.Column("summary", JSONB),
        sa.Column("notes", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("error", sa.Text),
        sa.Column("table_names", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("map_html", sa.LargeBinary),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="jobs_status"),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="jobs_progress"),
    )
    op.create_index("jobs_workspace_created", "jobs", ["workspace", "created_at"])
    op.create_table(
        "job_tables",
        sa.Column("job_id", UUID(as_uuid=False), sa.ForeignKey("jobs.job_id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "name", name="job_tables_pkey"),
    )


def downgrade() -> None:
    op.drop_table("job_tables")
    op.drop_table("jobs")
