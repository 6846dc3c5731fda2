"""ESP32 firmware: chips, images, serial ports, flashing, the Unity test reader, QEMU, sizes.

Steps of the esp-idf and esp-baremetal toolchains run `python -m hardware <command>`
through fedbuild's one runner (timeouts, logs, process-tree kill); the commands are
in hardware/__main__.py.
"""
