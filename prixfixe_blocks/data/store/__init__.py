"""Where a dataset lives: URIs and local paths (``location``), the node's shard cache
(``cache``) and one dataset's files (``files``). The bottom layer of ``prixfixe_blocks.data``."""
