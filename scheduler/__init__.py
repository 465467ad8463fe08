"""Early-warning rules and their timing: the rules, and the ``pantau scheduler`` process."""
