"""Split jobs into chunks: chunk counters on jobs, and the job_chunks table.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The server default fills chunks_done in the rows that already exist.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("chunks_total", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("chunks_done", sa.Integer(), nullable=False, server_default=sa.text("0")))

    op.create_table(
        "job_chunks",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("result_artifact", sa.String(300), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "position"),
    )
    op.create_index("ix_job_chunks_status", "job_chunks", ["status"])


def downgrade() -> None:
    op.drop_index("ix_job_chunks_status", table_name="job_chunks")
    op.drop_table("job_chunks")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("chunks_done")
        batch.drop_column("chunks_total")
