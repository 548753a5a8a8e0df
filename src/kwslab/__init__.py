"""kwslab."""
