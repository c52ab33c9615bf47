"""report.html of `invert stars`: the page (page) and its stars-specific figures (plots)."""
