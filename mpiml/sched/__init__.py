"""Structure-aware scheduling of parallel parameter updates (STRADS SAP).

Lee, Kim, Zheng, Gibson, Xing, "On Model Parallelization and Scheduling
Strategies for Distributed Machine Learning" (NIPS 2014); Kim et al.,
"STRADS" (EuroSys 2016).  A schedule says which parameters are updated
together in one round.  Three parts, none of which knows what the
parameters mean:

- **prioritiser** (:mod:`.priority`): sample candidates with probability
  proportional to ``(recent change)^2 + eta``, so fast-moving parameters are
  updated more often and every parameter keeps a floor ``eta``;
- **dependency check** (:mod:`.dependency`): from the candidates, keep
  greedily (in sampled order) those that do not conflict with an already
  kept one, given a conflict graph (for Lasso: pairs of columns with
  ``|corr(x_j, x_k)| >= rho``);
- **dispatcher** (:mod:`.dispatch`): hand the kept parameters to ranks,
  either by fixed ownership (data placed by column) or balancing a per-item
  cost (longest processing time first).

:class:`Scheduler` combines them into the ``sap``, ``random`` (Shotgun:
uniform without replacement) and ``cyclic`` schedules.  Every schedule is a
pure function of ``(seed, round, priorities)``: the round's random numbers
come from ``default_rng([seed, STREAM, round])``, so a run replays serially
and a resumed run needs only the round counter and the priorities.
"""

from .dependency import ConflictGraph  # noqa: F401
from .dispatch import balance, by_owner  # noqa: F401
from .priority import initial_priorities, round_rng, sample_weighted, update_priorities  # noqa: F401
from .scheduler import KINDS, Round, Scheduler  # noqa: F401

__all__ = ["ConflictGraph", "KINDS", "Round", "Scheduler", "balance", "by_owner",
           "initial_priorities", "round_rng", "sample_weighted", "update_priorities"]
