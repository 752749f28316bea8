"""Every `prixfixe-search` handler and its arguments: parsed options in, library calls out."""
