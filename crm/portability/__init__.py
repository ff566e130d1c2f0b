"""Import, export, duplicates and merging, deleting an account."""
