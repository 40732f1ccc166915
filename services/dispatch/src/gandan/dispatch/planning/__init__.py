"""The day's routes at the cut-off, timers that survive restarts, service levels, the morning digest."""
