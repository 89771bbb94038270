"""asyncua's identifier and status types from plain ints and strings, for the type checker.

asyncua annotates ``NodeId``'s identifier and namespace and ``StatusCode``'s value with its
``NewType`` wrappers (``Int32``, ``String``, ``Int16``, ``UInt32``), which are the same
values at run time. These two constructors take the plain values the adapter has, so the
one ``type: ignore`` for those wrappers lives here and not at every call site.
"""

from __future__ import annotations

from asyncua import ua

__all__ = ["ua_node", "ua_status"]


def ua_node(identifier: int | str, namespace: int = 0) -> ua.NodeId:
    """``ua.NodeId(identifier, namespace)``."""
    return ua.NodeId(identifier, namespace)  # type: ignore[arg-type]


def ua_status(code: int) -> ua.StatusCode:
    """``ua.StatusCode(code)``."""
    return ua.StatusCode(code)  # type: ignore[arg-type]
