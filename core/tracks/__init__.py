"""A matching run as a whole: tracks from its pairwise matches (union-find over (image, keypoint) nodes, as COLMAP's
correspondence graph), their conflicts, and what a COLMAP model made of them (core.tracks.build runs it all)."""
