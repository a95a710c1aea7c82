"""Pinned Hub revisions, one per dataset repository (see docs/hub-sources.md for provenance).

A revision is a commit of the dataset repository at which its data is stored as parquet
(``datasets`` 4+ refuses loading scripts).  ``None`` means not pinned yet (no parquet commit
could be verified offline, see docs/hub-sources.md): loading then uses the default branch.
"""

from __future__ import annotations

from xstilts.core.registry import Source

REVISIONS: dict[str, str | None] = {
    "google/xtreme": "b6419ab883183e08a85be8eef7cc71562f946684",
    "nyu-mll/glue": "a3f3ab759b9d7018046ce361f115ef38276d2e1e",
    "facebook/anli": None,
    "Rowan/hellaswag": "refs/pr/7",  # parquet conversion PR; main still has the script,
    "tau/commonsense_qa": None,
    # script-only on main: the Hub's own parquet conversion branch (layout <config>/<split>/0000.parquet)
    "allenai/cosmos_qa": "refs/convert/parquet",
    "allenai/social_i_qa": None,
    "cambridgeltl/xcopa": "042f78955ba48e6404616762fa6e05e839c3907a",
    "aps/super_glue": None,
    "rajpurkar/squad": None,
    "rajpurkar/squad_v2": None,
    "google-research-datasets/xquad_r": None,
    "google/xquad": None,  # xquad.ro (XTREME-R's Romanian XQuAD; google/xtreme has no XQuAD.ro)
    "google-research-datasets/tydiqa": "da78f23f9119363459acbaf46bf89426ff26c259",
    "stanfordnlp/snli": "cdb5c3d5eed6ead6e5a341c8e56e669bb666725b",
}


def hub(repo: str, config: str | None, split: str, schema: str, **where: str) -> Source:
    """A Hub split pinned at the repository's revision, read by the converter ``schema``."""
    return Source(repo, config, split, schema, REVISIONS.get(repo), tuple(where.items()))
