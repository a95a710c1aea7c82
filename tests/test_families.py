"""Every registered family implements the ``Family`` protocol, callable the way the stages call
it (the protocol's positional arguments, and options as keyword arguments where it takes them)."""

import inspect

import pytest

from xstilts.core.registry import FAMILY_MODULES, get_family
from xstilts.tasks.families import Family

METHODS = [n for n, v in vars(Family).items() if inspect.isfunction(v) and not n.startswith("_")]


@pytest.mark.parametrize("name", sorted(FAMILY_MODULES))
def test_family_implements_the_protocol(name):
    family = get_family(name)
    assert isinstance(family, Family)
    assert family.name == name  # stored with each head of a checkpoint, read back by get_family
    for method in METHODS:
        proto = inspect.signature(getattr(Family, method))
        params = list(proto.parameters.values())[1:]  # without self
        n_args = sum(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        options = {"an_option": 0} if any(p.kind is p.VAR_KEYWORD for p in params) else {}
        try:
            inspect.signature(getattr(family, method)).bind(*range(n_args), **options)
        except TypeError as err:
            pytest.fail(f"{name}.{method}{inspect.signature(getattr(family, method))} does not "
                        f"take the protocol's arguments {proto}: {err}")
