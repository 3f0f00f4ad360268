"""The Alembic environment of the store: `env.py`, the revision template and `versions/`.

Run through `rlhf.store.migrate`, which builds the Alembic configuration in code (no alembic.ini).
"""
