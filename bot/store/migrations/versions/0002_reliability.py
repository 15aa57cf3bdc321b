"""reliability: learner ids never reused on SQLite, outbox owner and retry budget, update inbox, send budget

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # AUTOINCREMENT only comes with CREATE TABLE: rebuild (the Store turns foreign keys off
        # while migrating, so the drop of the old table does not cascade).
        with op.batch_alter_table('learners', recreate='always', table_kwargs={'sqlite_autoincrement': True}):
            pass
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_failure_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('update_inbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_key', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), server_default='new', nullable=False),
    sa.Column('owner', sa.String(length=40), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_update_inbox')),
    sa.UniqueConstraint('update_id', name=op.f('uq_update_inbox_update_id'))
    )
    op.create_index('ix_update_inbox_state_update', 'update_inbox', ['state', 'update_id'], unique=False)
    op.create_index('ix_update_inbox_chat_update', 'update_inbox', ['chat_key', 'update_id'], unique=False)
    op.create_table('send_budget',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_send_budget'))
    )


def downgrade() -> None:
    op.drop_table('send_budget')
    op.drop_index('ix_update_inbox_chat_update', table_name='update_inbox')
    op.drop_index('ix_update_inbox_state_update', table_name='update_inbox')
    op.drop_table('update_inbox')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('first_failure_at')
        batch_op.drop_column('created_at')
        batch_op.drop_column('owner')
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table('learners', recreate='always', table_kwargs={'sqlite_autoincrement': False}):
            pass
