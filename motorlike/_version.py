"""motorlike's version.

motorlike continues Motor's version line (Motor ended at 3.7), so that
libraries gating on ``motor.version_tuple`` take their Motor 3 code paths.
"""

version_tuple = (3, 8, 0, "dev0")
version = "3.8.0.dev0"


def get_version_string() -> str:
    return version
