"""Match Inspector's Qt interface. Never imports torch: the model runs behind core.matching in a child process."""
