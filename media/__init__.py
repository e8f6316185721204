"""Upload safety: validate and re-encode applicant files, store them by content, sign links."""
