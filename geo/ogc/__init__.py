"""OGC API - Features over gridlink's tables: the collections, their items queries, CQL2
text filters and the CRSs they answer in (docs/ogc.md). No FastAPI here: api/routers/ogc.py
parses the request, calls these functions and adds the links."""
