"""The task heads with their own layers (imported when a head is built: it needs torch)."""

from __future__ import annotations

from torch import nn


class ClassificationHead(nn.Module):
    """Dense + tanh + dropout + projection on the first token (as RoBERTa's head)."""

    def __init__(self, hidden: int, n_labels: int, dropout: float):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_labels)

    def forward(self, x):
        return self.out(self.dropout(self.dense(self.dropout(x)).tanh()))


class TaggingHead(nn.Module):
    """Dropout + linear layer on every token (as XTREME's ``*ForTokenClassification``)."""

    def __init__(self, hidden: int, n_labels: int, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, n_labels)

    def forward(self, x):
        return self.out(self.dropout(x))
