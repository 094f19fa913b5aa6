"""Checkpoint series, and training-health jobs: a series instead of a model, an optional dataset.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_series",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("format", sa.String(40), nullable=False),
        sa.Column("task", sa.String(20), nullable=False),
        sa.Column("feature_names", sa.JSON(), nullable=False),
        sa.Column("class_names", sa.JSON(), nullable=True),
        sa.Column("series_metadata", sa.JSON(), nullable=False),
        sa.Column("checkpoints", sa.JSON(), nullable=False),
        sa.Column("tensors", sa.JSON(), nullable=False),
        sa.Column("artifact", sa.String(300), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("model_id", existing_type=sa.String(32), nullable=True)
        batch.alter_column("dataset_id", existing_type=sa.String(32), nullable=True)
        batch.add_column(sa.Column("checkpoints_id", sa.String(32), nullable=True))
        batch.create_index("ix_jobs_checkpoints_id", ["checkpoints_id"])


def downgrade() -> None:
    # Jobs without a model or a dataset cannot stay in the older schema.
    op.execute("DELETE FROM job_chunks WHERE job_id IN "
               "(SELECT id FROM jobs WHERE model_id IS NULL OR dataset_id IS NULL)")
    op.execute("DELETE FROM jobs WHERE model_id IS NULL OR dataset_id IS NULL")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_checkpoints_id")
        batch.drop_column("checkpoints_id")
        batch.alter_column("dataset_id", existing_type=sa.String(32), nullable=False)
        batch.alter_column("model_id", existing_type=sa.String(32), nullable=False)
    op.drop_table("checkpoint_series")
