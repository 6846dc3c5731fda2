"""fedbuild's doit commands: `doit run` (in a session), `init`, `history`, `stats`, `explain`,
`plan`, `affected`, `graph`, `cache` (and `serve`, in service/command.py).

Registered as doit entry points of the installed package `fedbuild_doit`
(tasks/commands/install/), which puts fedbuild's packages on sys.path when doit
first asks it for a class; in this checkout also by pyproject.toml's
[tool.doit.plugins.command]. The loader `fedbuild` (loader.py) builds a
repository with no dodo.py.
"""
