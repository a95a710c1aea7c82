"""Tasks: the family code (``families/``) and the registry entries (``catalog/``)."""
