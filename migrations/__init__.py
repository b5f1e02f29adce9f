"""Alembic environment and versions of the SQL event store schema.

The schema exists only through these migrations. Code drives them programmatically
(``adapters.sql.upgrade`` / ``sensequant db upgrade``); ``alembic.ini`` lives inside this
package so that an installed SenseQuant can migrate without a checkout.
"""
