"""Puts the mutant of tools/mutate.py in place in every Python process the tests start
(this folder is on PYTHONPATH only while tools/mutate.py runs a mutant)."""

import os
import sys

if os.environ.get("SOFTMAXKIT_MUTANT_MODULE"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import mutate

    mutate.install_from_environment()
    del sys.path[0]
