"""The run-control options every ``mpiml train ALGO`` has, declared once.

They say how a run is driven (iterations, checkpoints, resume, logging, the
watchdog), not what is learned, so only ``seed`` and ``straggler`` are part of
the stored configuration (as they were before the settings existed).  An
algorithm's settings may declare ``seed`` itself (e.g. with ``model=True`` when
the seed defines the model); the CLI then takes that declaration instead of
this one.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, option


@dataclass(frozen=True)
class RunSettings(Settings):
    max_iter: int = option(100, low=0, group="runtime", in_config=False, help="iterations at most")
    seed: int = option(0, group="runtime", help="random seed")
    checkpoint_dir: str = option(None, group="runtime", metavar="DIR", in_config=False,
                                 help="write HDF5 checkpoints here")
    checkpoint_every: int = option(0, low=0, group="runtime", metavar="K", in_config=False,
                                   help="checkpoint every K iterations (0: only at the end)")
    keep: int = option(2, low=0, group="runtime", in_config=False, help="checkpoints kept")
    resume: str = option(None, group="runtime", metavar="DIR|auto", in_config=False,
                         help="continue an interrupted run from DIR (or from --checkpoint-dir when "
                              "'auto' and a checkpoint exists there; a fresh start otherwise)")
    allow_changed_data: bool = option(False, group="runtime", in_config=False,
                                      help="--resume even if an input file's content differs from "
                                           "the checkpoint's (compared by size and CRC32, not by name)")
    init_from: str = option(None, group="runtime", metavar="CKPT", in_config=False,
                            help="start a NEW run from a checkpoint's model")
    log: str = option(None, group="runtime", metavar="FILE.jsonl", in_config=False,
                      help="also write the progress records as JSON lines")
    quiet: bool = option(False, group="runtime", in_config=False, help="no progress table")
    watchdog_timeout: float = option(600.0, low=0.0, group="runtime", metavar="SECONDS", in_config=False,
                                     help="abort the job if one wait lasts longer, naming the lagging "
                                          "ranks (0 disables)")
    straggler: str = option(None, group="runtime", metavar="SPEC",
                            help="slow ranks down for experiments: RANK:FACTOR or random:P:FACTOR")
    config: str = option(None, group="runtime", metavar="FILE.toml", in_config=False, toml=False,
                         help="defaults for any of these options from a TOML file (keys as option "
                              "names)")

    rule_examples = (
        ({"resume": "auto", "init_from": "ck", "checkpoint_dir": "ck"},
         "--resume and --init-from are exclusive: --resume continues the same run, "
         "--init-from starts a new run from a model"),
        ({"resume": "auto"}, "--resume auto needs --checkpoint-dir"),
    )

    def rules(self):
        if self.resume and self.init_from:
            yield ("--resume and --init-from are exclusive: --resume continues the same run, "
                   "--init-from starts a new run from a model")
        if self.resume == "auto" and not self.checkpoint_dir:
            yield "--resume auto needs --checkpoint-dir"
