"""Deprecation shims for renamed keywords (one helper for every renamed argument).

    @renamed_kwarg("n_boot", "n_bootstrap")
    def fid_bootstrap(real, fake, n_bootstrap=100, ...): ...

``fid_bootstrap(x, y, n_boot=30)`` then runs ``fid_bootstrap(x, y, n_bootstrap=30)`` (the same
numbers) after a :class:`DeprecationWarning` naming the new keyword; passing both names is a
``TypeError``. :func:`inspect.signature` shows the new signature (``functools.wraps``).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(where: str, old: str, new: str, stacklevel: int = 3) -> None:
    """The one deprecation message: ``where``'s keyword ``old=`` is now ``new=``."""
    warnings.warn(
        f"{where}: the keyword {old}= is deprecated and will be removed; pass {new}= (same meaning)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_kwarg(old: str, new: str) -> Callable[[F], F]:
    """Decorator: accept the keyword ``old`` as a deprecated alias of ``new``."""

    def decorate(fn: F) -> F:
        where = fn.__qualname__.replace(".__init__", "")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{where}: pass {new}= only ({old}= is its deprecated name)")
                warn_renamed(where, old, new)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
