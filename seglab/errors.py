"""Exception types that seglab raises for user mistakes.

Every message names the file, key or value at fault and says what to do. The types subclass the
built-in exception a Python user would expect (``ValueError``, ``KeyError``, ...) so that generic
``except`` clauses keep working.
"""


class SeglabError(Exception):
    """Base class of seglab's user-facing errors."""


class ConfigError(SeglabError, ValueError):
    """A config file or a config override is invalid."""


class RegistryError(SeglabError, KeyError):
    """A ``type=`` name is unknown, or a constructor key is not accepted."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class DatasetError(SeglabError, ValueError):
    """An image or label file is missing, corrupt or inconsistent."""


class CheckpointError(SeglabError, RuntimeError):
    """A checkpoint cannot be loaded (unsafe pickle, missing file, mismatched keys)."""
