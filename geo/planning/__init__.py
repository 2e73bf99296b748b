"""Planning: validate grid coverage and balance, and redraw grids through changesets.

Modules: :mod:`geo.planning.validate` (coverage, codes, balance), :mod:`geo.planning.changesets`
(drafts, publish, history, undo), :mod:`geo.planning.operations` (reshape, split, merge, ...),
:mod:`geo.planning.preview` (impact of a draft).
"""
