"""A search's options and the checks made before anything starts (`prepare`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prixfixe_blocks.data.format.schema import open_dataset
from prixfixe_blocks.data.format.splits import VAL, select_rows
from prixfixe_blocks.errors import ConfigError
from prixfixe_blocks.plugins import load_plugins
from prixfixe_blocks.strategies.strategy_spec import schedule_overrides
from search.experiment import SEARCH_FILE, ExperimentDir, open_experiment
from search.study.objectives import SINGLE, objective_metrics
from search.study.searcher import first_rung
from spaces import check_space, grid_size, load_space, parse_fixes

DEFAULT_TRIALS = 20
DEFAULT_EPOCHS = 10
DEFAULT_WIDTH = "published"

@dataclass
class SearchOptions:
    """The options of `prixfixe-search run` (also what search.json stores)."""

    data: str
    name: str
    space: str = "prixfixe"
    trials: int | None = None
    epochs: int = DEFAULT_EPOCHS
    sampler: str = "tpe"
    scheduler: str = "asha"
    max_concurrent: int | None = None
    gpus_per_trial: float | None = None
    cpus_per_trial: float = 1.0
    storage: str = "runs"
    tracking_uri: str | None = None
    seed: int = 0
    time_budget: float | None = None
    address: str | None = None
    fix: list[str] = field(default_factory=list)
    batches_per_epoch: int | None = None  # wins over `schedule`
    schedule: str = "pass"  # epoch length: one pass, or the published (strategies.SCHEDULES)
    grace_period: int | None = None  # ASHA's first rung (default: after the warm-up)
    width: str = DEFAULT_WIDTH
    enqueue_presets: bool = True
    num_cpus: int | None = None  # embedded Ray only; default os.cpu_count()
    val_folds: tuple[int, ...] = (0,)
    plugins: list[str] = field(default_factory=list)  # modules registering blocks/strategies
    register: str | None = None  # MLflow registered-model name for the best model
    objective: str = SINGLE  # "r", or "r,params" (multi-objective: r vs parameter count)
    max_params: int | None = None  # configurations above this many parameters are not trained
    budget_plan: bool = False  # width, epochs, trials and concurrency chosen from time_budget
    max_epochs: int | None = None  # the budget plan's most passes (default budget.MAX_EPOCHS)

@dataclass
class Prepared:
    """A checked search, ready to launch."""

    opts: SearchOptions
    exp: ExperimentDir
    space: Any
    meta: Any
    overrides: dict[str, Any]
    trials: int

def prepare(opts: SearchOptions) -> Prepared:
    """Validate data, plugins, space and sampler before anything starts; ConfigError/DataError
    if bad."""
    exp = open_experiment(opts.storage, opts.name)
    exp.pull()
    if exp.path(SEARCH_FILE).exists():
        raise ConfigError(f"search '{opts.name}' already exists at {exp.where}; use "
                          f"`prixfixe-search resume {opts.name}` or another --name")
    if opts.epochs < 1 or (opts.trials is not None and opts.trials < 1):
        raise ConfigError("--epochs and --trials must be at least 1")
    objective_metrics(opts.objective)
    if opts.max_params is not None and opts.max_params < 1:
        raise ConfigError(f"--max-params must be positive, got {opts.max_params}")
    meta = open_dataset(opts.data)
    validation = select_rows(meta, VAL, opts.val_folds, path=opts.data).describe()
    print(f"validation rows: {validation} (test rows are never read)")
    load_plugins(opts.plugins)
    space = load_space(opts.space, width=opts.width, fixed=parse_fixes(opts.fix))
    grid = opts.sampler == "grid"
    trials = opts.trials or DEFAULT_TRIALS
    if grid:
        size = grid_size(space)
        if opts.trials is not None and opts.trials > size:
            print(f"--trials {opts.trials} is more than the grid's {size} combinations: "
                  f"running {size}")
        trials = min(opts.trials or size, size)
    overrides = run_overrides(opts)
    first_rung(opts.epochs, opts.grace_period)  # a bad --grace-period fails now
    checked = check_space(space, meta=meta, overrides=overrides, seed=opts.seed, grid=grid,
                          max_params=opts.max_params)
    print(f"space '{opts.space}' checked: {checked} sampled configurations build and train "
          "one step")
    return Prepared(opts, exp, space, meta, overrides, trials)

def run_overrides(opts: SearchOptions) -> dict[str, Any]:
    """Spec fields set by the run rather than the space: the epochs (they drive the LR
    schedules) and the epoch length (--batches-per-epoch, else --schedule)."""
    return {"strategy.epochs": opts.epochs,
            **schedule_overrides(opts.schedule, opts.batches_per_epoch)}

