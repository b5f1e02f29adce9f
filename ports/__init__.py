"""Ports: typing.Protocol interfaces between the core and the outside world.

Signatures use only core types; never SDK, pandas or SQLAlchemy types.
"""
