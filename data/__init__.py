"""Demo city generator and sample files."""
