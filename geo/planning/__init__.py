"""Planning: validate grid coverage and balance, and redraw grids through changesets.

Modules: :mod:`~geo.planning.validate` (coverage, codes, balance, compactness in PostGIS),
:mod:`~geo.planning.changesets` (drafts, publish with lock and 409, re-assignment),
:mod:`~geo.planning.operations` (reshape, split by line, merge, create, retire, rename),
:mod:`~geo.planning.units` (balanced split, move buildings), :mod:`~geo.planning.micro`
(micro-grids carried along), :mod:`~geo.planning.preview` (impact of a draft),
:mod:`~geo.planning.history` (as-of, versions, diff, undo), :mod:`~geo.planning.repair`,
:mod:`~geo.planning.propose` (gerrychain plans), :mod:`~geo.planning.imports` (QGIS layer).
"""
