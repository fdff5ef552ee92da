"""civitas-witness: a C2SP tlog-witness, cosigning a log's checkpoints while they stay consistent.

Its one job: keep, per log origin, the latest tree it cosigned, durably, and cosign (C2SP
tlog-cosignature, cosignature/v1) a new checkpoint only when the log's signature verifies and a
consistency proof shows the new tree extends that one. It imports only the standard library and
``cryptography`` and shares no code with the log it watches, so a bug in the writer cannot make
the witness agree with it.
"""
