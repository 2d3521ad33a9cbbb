"""Durable jobs: the jobs table becomes the queue (worker, lease, heartbeat, attempts, cancel request).

Jobs left running by an in-process runner of an older version get a lease that has already run
out, so the first worker re-queues them (counted as one attempt).

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("worker_id", sa.Text))
    op.add_column("jobs", sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.TIMESTAMP(timezone=True)))
    op.add_column("jobs", sa.Column("lease_until", sa.TIMESTAMP(timezone=True)))
    op.add_column("jobs", sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_check_constraint("jobs_attempts", "jobs", "attempts >= 0")
    # The queue: oldest queued job of a workspace first; expired leases of running jobs.
    op.create_index("jobs_queued", "jobs", ["workspace", "created_at", "seq"],
                    postgresql_where=sa.text("status = 'queued'"))
    op.create_index("jobs_leases", "jobs", ["workspace", "lease_until"],
                    postgresql_where=sa.text("status = 'running'"))
    op.execute("UPDATE jobs SET lease_until = clock_timestamp(), attempts = 1 WHERE status = 'running'")


def downgrade() -> None:
    op.drop_index("jobs_leases", table_name="jobs")
    op.drop_index("jobs_queued", table_name="jobs")
    op.drop_constraint("jobs_attempts", "jobs", type_="check")
    for column in ("cancel_requested", "lease_until", "heartbeat_at", "attempts", "worker_id"):
        op.drop_column("jobs", column)
