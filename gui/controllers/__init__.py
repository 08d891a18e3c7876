"""What the window does, split by job: files, runs, analysis, exports, sessions. Each reads and writes the model."""
