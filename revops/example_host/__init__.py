"""The example RevFlow OS host: a catalogue (catalog.py) turned into files (generate.py), and
made runnable under a systemd user manager (live.py). `revops example-host` drives it."""
