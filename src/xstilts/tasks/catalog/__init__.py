"""Registry entries, one module per family; ``xstilts.core.registry`` collects them."""
