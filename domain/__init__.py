"""The domain: the User entity, its rules, its errors and the repository port. Pure Python, no I/O."""
