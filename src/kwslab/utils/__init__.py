"""Small shared helpers: progress bars, atomic writes, optional imports."""
