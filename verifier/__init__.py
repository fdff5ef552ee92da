"""civitas-verify: the auditor's independent check of a Civitas ledger.

Its one job: prove, from an export bundle, a receipt or the live AuditService, that every entry is
signed, hashed, ordered and committed to by the signed checkpoints exactly as docs/ledger-format.md
says. It imports only the standard library, ``cryptography``, ``grpc`` and the generated
``protos`` modules, and re-implements every format from its specification, so that a bug in the
writer (``ledger``) cannot hide a bug here.
"""
