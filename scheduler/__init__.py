"""Early-warning rules (``scheduler.rules``) and the process that runs them on a schedule."""
