"""marking loop: claims decided by tutors, learned accept wordings, content versions, counters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('overrides', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='claim', nullable=False))
        batch_op.add_column(sa.Column('decided_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=300), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_overrides_decided_by_learners'), 'learners', ['decided_by'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_overrides_status'), ['status', 'id'], unique=False)
    op.create_table(
        'learned_accepts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('question_id', sa.String(length=80), nullable=False),
        sa.Column('point_id', sa.String(length=80), nullable=False),
        sa.Column('wording', sa.String(length=300), nullable=False),
        sa.Column('learned_by', sa.Integer(), nullable=True),
        sa.Column('learned_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('override_id', sa.Integer(), nullable=True),
        sa.Column('from_learner', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['learned_by'], ['learners.id'], name=op.f('fk_learned_accepts_learned_by_learners'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['override_id'], ['overrides.id'],
                                name=op.f('fk_learned_accepts_override_id_overrides'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['from_learner'], ['learners.id'],
                                name=op.f('fk_learned_accepts_from_learner_learners'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_learned_accepts')),
    )
    op.create_table(
        'content_versions',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('topics', sa.JSON(), nullable=False),
        sa.Column('summary', sa.String(length=300), server_default='', nullable=False),
        sa.Column('rolled_back_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['created_by'], ['learners.id'], name=op.f('fk_content_versions_created_by_learners'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_content_versions')),
    )
    op.create_table(
        'counters',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('value', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_counters')),
    )


def downgrade() -> None:
    op.drop_table('counters')
    op.drop_table('content_versions')
    op.drop_table('learned_accepts')
    with op.batch_alter_table('overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_overrides_status'))
        batch_op.drop_constraint(batch_op.f('fk_overrides_decided_by_learners'), type_='foreignkey')
        batch_op.drop_column('reason')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decided_by')
        batch_op.drop_column('kind')
