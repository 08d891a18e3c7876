"""Match Inspector's Qt interface. Never imports torch: the matcher runs in a child process (core.matchers.service)."""
