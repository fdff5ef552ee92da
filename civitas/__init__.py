"""The composition root: configuration, assembly of the ledger and the gRPC server, and the CLI."""
