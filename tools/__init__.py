"""Build tools for motorlike; not part of the installed package."""
