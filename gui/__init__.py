"""Match Inspector's Qt interface. Never imports torch: the model runs behind core.matching on a worker thread."""
