"""The Optuna side of a search: the study journal, the searcher Tune drives, the objectives."""
