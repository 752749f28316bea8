"""The dataset format: ``dataset.json`` (``schema``), train/val/test splits, row validation,
plasmid flanks and test-suite TSVs; ``dataset`` opens a dataset once into one object."""
