"""Route planning: a day's visits put in order for each team (model), with travel times (travel),
by a solver that runs off the event loop (solver)."""
