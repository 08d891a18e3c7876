"""Numbers computed from matches, Qt- and torch-free: geometry (MAGSAC++ H/F, residuals), relative pose,
intrinsics, overlap, A/B comparison, ambiguity, line budget, inference sizes, synthetic test scenes."""
