"""DefectFinder's helpers: everything the notebooks and `python -m helpers analyze` run (see README's Layout)."""
