"""Use cases of the service, written against ports only (the unit of work and the repository)."""
