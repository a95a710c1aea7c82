"""Registry entries, one module per family; ``xstilts.registry`` collects them."""
