"""Initial schema: workspaces, areas, stations, resources, nesting reports, import log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_POPULATION = ["population", "households", "pop_65plus", "pop_75plus", "single_elderly_households"]


def _workspace_fk() -> sa.Column:
    return sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.name", ondelete="CASCADE"), nullable=False)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "workspaces",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("city_code", sa.Text),
        sa.Column("city_name", sa.Text),
        sa.Column("profile", JSONB),
        _now("created_at"),
        _now("updated_at"),
    )
    op.create_table(
        "areas",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        _workspace_fk(),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("area_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("parent_id", sa.Text),
        *[sa.Column(c, sa.BigInteger) for c in _POPULATION],
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
        sa.PrimaryKeyConstraint("workspace", "level", "area_id", name="areas_pkey"),
    )
    op.create_index("areas_geom_gist", "areas", ["geom"], postgresql_using="gist")
    op.create_index("areas_workspace_seq", "areas", ["workspace", "seq"])
    op.create_table(
        "stations",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        _workspace_fk(),
        sa.Column("station_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("area_ids", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("is_sample", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
        sa.PrimaryKeyConstraint("workspace", "station_id", name="stations_pkey"),
    )
    op.create_index("stations_geom_gist", "stations", ["geom"], postgresql_using="gist")
    op.create_index("stations_workspace_seq", "stations", ["workspace", "seq"])
    op.create_table(
        "resources",
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        _workspace_fk(),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("address", sa.Text, nullable=False, server_default=""),
        sa.Column("attributes", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("source", sa.Text, nullable=False, server_default=""),
        sa.Column("is_sample", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
        sa.PrimaryKeyConstraint("workspace", "resource_id", name="resources_pkey"),
    )
    op.create_index("resources_geom_gist", "resources", ["geom"], postgresql_using="gist")
    op.create_index("resources_workspace_kind", "resources", ["workspace", "kind"])
    op.create_index("resources_workspace_seq", "resources", ["workspace", "seq"])
    op.create_table(
        "nesting_reports",
        sa.Column("workspace", sa.Text, sa.ForeignKey("workspaces.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("report", JSONB, nullable=False),
        _now("updated_at"),
    )
    op.create_table(
        "import_log",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        _workspace_fk(),
        sa.Column("record", JSONB, nullable=False),
        _now("logged_at"),
    )
    op.create_index("import_log_workspace_id", "import_log", ["workspace", "id"])


def downgrade() -> None:
    for table in ("import_log", "nesting_reports", "resources", "stations", "areas", "workspaces"):
        op.drop_table(table)
