"""The one version string: package metadata (pyproject reads it), ``fastgan.__version__`` and ``fastgan info``."""

__version__ = "0.1.0"
