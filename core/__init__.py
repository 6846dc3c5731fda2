"""What every layer needs, importing none of them: the process runner, the repository lock,
the state folder and staging, path confinement, digests, the one-line errors, task statuses,
sizes and the ESP32 chips.

Imports point downwards only: service -> tasks -> federation / hardware -> core
(tests/test_layers.py checks it).
"""
