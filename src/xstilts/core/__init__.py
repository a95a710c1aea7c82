"""Configuration, paths and the task registry: what every stage reads."""
