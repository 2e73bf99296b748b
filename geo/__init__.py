"""gridlink's spatial domain: models, queries, CRS handling, import/export, planning.

Nothing in this package knows about FastAPI or Folium.
"""
