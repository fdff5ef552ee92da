"""The signed event store core (entry format, signing, keyring, sequencer, checkpoints, proofs,
export) and the government-transaction domain."""
