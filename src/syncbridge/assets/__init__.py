"""Assets: the stored DAM assets, one asset with its classifications, and its trace."""
