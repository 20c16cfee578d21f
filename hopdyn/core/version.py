"""hopdyn's version: the one place it is written (``pyproject.toml`` reads it
from here, ``hopdyn.__version__`` and ``hopdyn --version`` import it)."""

__version__ = "0.2.0"
