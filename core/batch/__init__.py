"""`match-inspector batch`: the driver (plan, resume, writes), what it leaves in the output folder, and the
executors that match the pairs (this process, local worker processes, Ray)."""
