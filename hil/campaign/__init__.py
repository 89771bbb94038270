"""Campaigns: many runs of one study or scenario suite on Dask (``hil campaign``).

:mod:`model` reads and checks a campaign file; :mod:`plan` draws its runs (points, seeds,
fault sequences) up front; :mod:`task` plays one run as a pure task; :mod:`engine` plays them
all on a Dask cluster into :mod:`store`'s folder; :mod:`compare` diffs two EMS configurations
run by run; :mod:`report` writes the campaign's report.
"""

from __future__ import annotations

from .model import Campaign, CampaignFile, load_campaign
from .plan import RunSpec, plan_campaign

__all__ = ["Campaign", "CampaignFile", "RunSpec", "load_campaign", "plan_campaign"]
