"""One exception hierarchy for the kit (house rule 14).

Every error a user can meet derives from :class:`KamError`, so a notebook or the
CLI can catch the kit's own errors without catching programming errors.
"""

__all__ = [
    "KamError",
    "ConfigError",
    "DataValidationError",
    "ParameterError",
    "NotFittedError",
    "ConvergenceError",
]


class KamError(Exception):
    """Base class of every error the kit raises on purpose."""


class ConfigError(KamError, ValueError):
    """The engagement config is malformed: unknown key, wrong type, missing file."""


class DataValidationError(KamError, ValueError):
    """Client data break the data contract in a way the loader cannot repair.

    The message names the file, the column, the rule, how many rows break it,
    the first offending rows and what to do.
    """


class ParameterError(KamError, ValueError):
    """A function argument is out of its valid range or of the wrong kind.

    Worded as: "The 'p' parameter of f must be .... Got ... instead."
    """


class NotFittedError(KamError, AttributeError):
    """An estimator was used before ``fit``."""


class ConvergenceError(KamError, RuntimeError):
    """A numerical fit did not converge; the message suggests a fix."""
