"""What a search records while it runs: one entry per trial (trials.json, refit.json), its MLflow
run and Optuna links, told to listeners such as the live display."""
