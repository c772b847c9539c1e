"""Adapters: implementations of the domain and application ports for real infrastructure."""
