"""Infrastructure tables, as each service's first migration creates them."""

from alembic import op
from sqlalchemy import MetaData

from servicekit.tables import define_infrastructure_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata = MetaData()
    define_infrastructure_tables(metadata)
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    metadata = MetaData()
    define_infrastructure_tables(metadata)
    metadata.drop_all(op.get_bind())
