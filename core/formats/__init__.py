"""Files in and out: images, atomic writes, match files (CSV/JSON/NPZ), sessions, hloc and COLMAP
collections, the picture of the matches, the checks stored arrays must pass, the user's cache folders."""
