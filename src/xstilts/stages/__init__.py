"""The stages of a cell: data, pretraining, training, evaluation, profiling, prefetch."""
