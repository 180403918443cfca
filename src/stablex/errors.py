"""One exception type for input a user can fix; the CLI prints it as one line."""


class StablexError(Exception):
    """Bad input or a refused operation; the message names the file, column, row or option."""


class ConfigMismatchError(StablexError):
    """A run directory was created with another configuration."""
