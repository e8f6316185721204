"""Tokens, secrets at rest and masking of personal data."""
