"""The task domain: model and state machine, kinds, and the engine that runs them."""
