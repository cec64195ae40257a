"""program details: privacy notice, domains, branding, time zone, freebie

Revision ID: 0004a
Revises: 0003f
Create Date: 2026-12-06 03:32:11.609514

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision = '0004a'
down_revision = '0003f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customer_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary().with_variant(mysql.LONGBLOB(), 'mysql'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_files_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_files')),
    sa.UniqueConstraint('customer_id', 'kind', name=op.f('uq_customer_files_customer_id'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('privacy_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('allowed_domains', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('accent_color', sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column('time_zone', sa.String(length=64), server_default='Europe/Berlin', nullable=False))
        batch_op.add_column(sa.Column('freebie_title', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('freebie_description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('freebie_url', sa.String(length=500), nullable=True))



def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('freebie_url')
        batch_op.drop_column('freebie_description')
        batch_op.drop_column('freebie_title')
        batch_op.drop_column('time_zone')
        batch_op.drop_column('accent_color')
        batch_op.drop_column('allowed_domains')
        batch_op.drop_column('privacy_url')

    op.drop_table('customer_files')
