"""Reading a dataset: seeded resumable shard streaming (``loader``), loaders over one part of a
dataset (``parts``) and vectorized sequence encodings (``encode``)."""
