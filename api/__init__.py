"""gridlink's HTTP API (FastAPI). Thin: parses, calls geo/, shapes the answer."""
