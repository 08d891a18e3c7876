"""Matching runs opened for browsing: the base types (MatchingRun, StoredPair), one reader per format (COLMAP
database, hloc files, batch folder), reference poses from a COLMAP model, and the quick per-pair check."""
