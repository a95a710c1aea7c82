"""The toy benchmark: a structured world rendered into English and four toy languages
(``qaa``..``qad``, ISO 639-2 reserved-for-local-use codes), an unlabeled corpus, and toy twins
of the real datasets in their exact Hub schema. Entry point: :func:`generate`."""

from xstilts.toy.generate import TWIN_SPLITS, generate
from xstilts.toy.render import Clause, Coord, Name, Num, Obj, Renderer, Token, detokenize
from xstilts.toy.world import GRAMMARS, LANGUAGES, TOY_LANGUAGES, World, build_world

__all__ = ["generate", "TWIN_SPLITS", "build_world", "World", "GRAMMARS", "LANGUAGES",
           "TOY_LANGUAGES", "Renderer", "Token", "Clause", "Name", "Num", "Obj", "Coord",
           "detokenize"]
