"""Synchronous PyMongo look-alike over motorlike, to run PyMongo's own tests (see issue: synchro)."""
