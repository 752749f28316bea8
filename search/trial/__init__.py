"""What runs on a worker: one Ray Tune trial (a search's or a refit's) training one model."""
