"""Citizens and their authenticators, attempts, sessions and tokens; IdentityService."""
