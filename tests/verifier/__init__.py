"""Tests of civitas-verify, the independent verifier; they import nothing of the writer."""
