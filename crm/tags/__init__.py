"""Tags: every tag of the user with its use, to rename, merge and delete."""
