"""`revops suites`: proposing a destination for every unit in no suite (suggest.py), from
what the inventory knows (evidence.py), and writing the proposal into revops.yaml as a
block the operator reviews (write.py)."""
