"""The citizen's own web portal: a reference relying service that signs a citizen in and shows
them their history, their cases and the receipts they can verify in their own browser, talking
to Civitas only through its public gRPC API with its own service account, as any agency's
portal would (issue 16)."""
