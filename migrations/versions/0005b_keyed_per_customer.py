"""retired link tokens: hashes of hub and confirmation tokens made under an older hash key

Revision ID: 0005b
Revises: 0005a
Create Date: 2026-12-08 10:00:00.000000

Re-keying the stored e-mail hashes per program needs the hash and data keys, which a
migration does not have: `flask keys rehash` does it (look-ups accept the old hashes until
then, docs/deployment.md).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0005b'
down_revision = '0005a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('retired_link_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['referral_leads.id'], name=op.f('fk_retired_link_tokens_participant_id_referral_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_retired_link_tokens'))
    )
    with op.batch_alter_table('retired_link_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retired_link_tokens_participant_id'), ['participant_id'], unique=False)


def downgrade():
    with op.batch_alter_table('retired_link_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retired_link_tokens_participant_id'))
    op.drop_table('retired_link_tokens')
