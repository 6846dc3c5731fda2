"""Task generators, the command runner, the run session and reporting."""
