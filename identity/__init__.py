"""Citizens and their authenticators, sessions and tokens; IdentityService (issue: identity)."""
