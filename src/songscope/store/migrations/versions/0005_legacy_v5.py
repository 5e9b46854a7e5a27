"""Schema version 5, as songscope's hand-written migrations left it before Alembic.

Databases made by those releases (``songscope_schema`` 1 to 5) are completed to version 5 by
`songscope.store.db.migrate` and stamped with this revision; new databases start from the tables
of the current code and are stamped with the head.

Revision ID: 0005
"""

revision = "0005"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
