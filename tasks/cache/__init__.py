"""The action cache: a task's outputs and log, stored under a key computed from everything
that decides them, restored instead of rebuilding (see record.py, local.py, remote.py,
cache.py). Never a reason for a build to fail: a broken cache is a miss and a warning."""
