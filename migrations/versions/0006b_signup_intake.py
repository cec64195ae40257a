"""signup intake: register-lead answers before the sign-up is processed

Revision ID: 0006b
Revises: 0006a
Create Date: 2026-12-06 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006b'
down_revision = '0006a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signup_intake',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_signup_intake_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signup_intake'))
    )
    op.create_index('idx_signup_intake_created', 'signup_intake', ['created_at'], unique=False)


def downgrade():
    op.drop_index('idx_signup_intake_created', table_name='signup_intake')
    op.drop_table('signup_intake')
