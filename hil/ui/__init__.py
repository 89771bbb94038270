"""The browser dashboard: a live view of a run (one-line diagram, plots, events, devices and
points, expectations) and a form that drives it (faults, grid and workload events, inputs,
pause and speed), served from the run's own process.

:class:`Dashboard` (``hil/ui/server.py``, the one module that imports aiohttp) serves the page
and its WebSocket; :class:`Feed` reads what the page shows from the runner; :class:`Console`
applies the page's actions through the run's timeline. ``docs/howto-dashboard.md`` shows it
in use; ``docs/reference/ui-protocol.md`` describes the messages.
"""

from hil.ui.control import ActionError, Console, empty_timeline
from hil.ui.feed import Feed
from hil.ui.server import STATIC, Dashboard, UiConfig

__all__ = ["STATIC", "ActionError", "Console", "Dashboard", "Feed", "UiConfig", "empty_timeline"]
