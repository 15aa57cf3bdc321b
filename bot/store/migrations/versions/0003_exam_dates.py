"""exam dates: a learner's own assessment date, and a cohort's that its members inherit

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('learner_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exam_date', sa.Date(), nullable=True))
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exam_date', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cohorts', schema=None) as batch_op:
        batch_op.drop_column('exam_date')
    with op.batch_alter_table('learner_settings', schema=None) as batch_op:
        batch_op.drop_column('exam_date')
