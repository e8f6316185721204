"""Staff login (placeholder until the staff-auth work lands)."""
