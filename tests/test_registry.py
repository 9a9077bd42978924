"""Registry: registration rules, forgiving lookup, suggestions, overrides, listing and order."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fcdmbench import registry
from fcdmbench.catalog.spec import ModelSpec, Upstream
from fcdmbench.errors import ConfigError, DuplicateModelError, UnknownModelError
from fcdmbench.registry import (
    create_model,
    get_spec,
    list_models,
    normalize_name,
    register_model,
    resolve,
)


@pytest.fixture
def sandbox():
    """Registrations made inside a test are undone afterwards (the real catalogue stays)."""
    registry.list_models()  # load the real catalogue first
    saved = (dict(registry._REGISTRY), dict(registry._ALIASES), list(registry._FAMILY_ORDER))
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved[0])
    registry._ALIASES.clear()
    registry._ALIASES.update(saved[1])
    registry._FAMILY_ORDER[:] = saved[2]


@dataclass(frozen=True, slots=True)
class ToyConfig:
    width: int = 8
    input_size: int = 32

    def num_params(self) -> int:
        return self.width


def _toy(name: str, aliases: tuple[str, ...] = (), family: str = "toy") -> ModelSpec:
    return ModelSpec(
        name=name,
        family=family,
        display_name=name.upper(),
        config=ToyConfig(),
        builder="torch.nn:Identity",
        paper="fcdm",
        upstream=Upstream(repo="example/toy", commit="0" * 40, license="MIT", path="toy.py"),
        aliases=aliases,
    )


def test_register_and_find(sandbox):
    register_model(_toy("toy-s", aliases=("toy-small",)))
    assert get_spec("toy-s").name == "toy-s"
    assert get_spec("TOY_SMALL").name == "toy-s"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_toy("toy-s"), _toy("toy-s")),  # same name
        (_toy("toy-s"), _toy("toy-b", aliases=("toy-s",))),  # alias takes a name
        (_toy("toy-s", aliases=("toy",)), _toy("toy-b", aliases=("toy",))),  # alias twice
        (_toy("toy-s", aliases=("toy",)), _toy("toy")),  # name takes an alias
    ],
)
def test_duplicates_raise(sandbox, first, second):
    register_model(first)
    before = (dict(registry._REGISTRY), dict(registry._ALIASES))
    with pytest.raises(DuplicateModelError):
        register_model(second)
    assert (registry._REGISTRY, registry._ALIASES) == before  # nothing half-registered


def test_real_names_cannot_be_taken_again(sandbox):
    with pytest.raises(DuplicateModelError, match="fcdm-xl"):
        register_model(_toy("fcdm-xl", family="fcdm"))


@pytest.mark.parametrize(
    "bad", ["Toy-S", "toy_s", "toy-s.512", "toy/2", "-toy", "toy-", "toy--s", "", "toy s"]
)
def test_malformed_names_raise(sandbox, bad):
    with pytest.raises(ConfigError, match="malformed"):
        register_model(_toy(bad))
    with pytest.raises(ConfigError, match="malformed"):
        register_model(_toy("toy-ok", aliases=(bad,)))
    assert "toy-ok" not in registry._REGISTRY


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("fcdm-xl", ("fcdm-xl", None)),
        ("FCDM-XL", ("fcdm-xl", None)),
        ("fcdm_xl", ("fcdm-xl", None)),
        (" FCDM XL ", ("fcdm-xl", None)),
        ("fcdm-xl.512", ("fcdm-xl", 512)),
        ("FCDM-XL.256", ("fcdm-xl", 256)),
    ],
)
def test_lookup_normalisation(given, expected):
    spec, resolution = resolve(given)
    assert (spec.name, resolution) == expected


def test_normalize_name_maps_paper_spelling():
    assert normalize_name("DiT-XL/2.512") == ("dit-xl-2", 512)
    assert normalize_name("DiT-XL/2") == ("dit-xl-2", None)


def test_resolution_tag_sets_the_config():
    model = create_model("fcdm-s.512", device="meta")
    assert model.config.input_size == 64
    assert create_model("fcdm-s", device="meta").config.input_size == 32


def test_conflicting_resolution_and_tag_raise():
    with pytest.raises(ConfigError, match="512"):
        create_model("fcdm-s.512", resolution=256, device="meta")


def test_undefined_resolution_raises():
    with pytest.raises(ConfigError, match="384"):
        create_model("fcdm-s", resolution=384, device="meta")


def test_unknown_name_lists_nearest_names():
    with pytest.raises(UnknownModelError) as info:
        get_spec("fcdm-xxl")
    assert "fcdm-xl" in info.value.message
    assert "models list" in info.value.hint
    assert info.value.exit_code == 2
    assert str(info.value) == info.value.message  # not KeyError's quoted repr


def test_unknown_name_without_neighbours_still_explains():
    with pytest.raises(UnknownModelError, match="unknown model 'zzzzzz'$"):
        get_spec("zzzzzz")


def test_unknown_override_names_valid_fields():
    with pytest.raises(ConfigError) as info:
        create_model("fcdm-s", device="meta", widht=64)
    assert "widht" in info.value.message
    assert "width" in info.value.hint and "depths" in info.value.hint


def test_known_override_is_applied():
    model = create_model("fcdm-s", device="meta", width=64)
    assert model.config.width == 64
    assert get_spec("fcdm-s").config.width == 128  # the registered variant is untouched


def test_list_models_wildcards_include_exclude():
    assert list_models("fcdm-*") == ["fcdm-s", "fcdm-b", "fcdm-l", "fcdm-xl"]
    assert list_models("FCDM-*") == list_models("fcdm-*")
    assert list_models(["fcdm-xl", "fcdm-s"]) == ["fcdm-s", "fcdm-xl"]
    assert list_models("fcdm-*", exclude="*-xl") == ["fcdm-s", "fcdm-b", "fcdm-l"]
    assert list_models("fcdm-*", exclude=["*-s", "*-b"]) == ["fcdm-l", "fcdm-xl"]
    assert list_models("*-xl*", family="fcdm") == ["fcdm-xl"]
    assert list_models("nothing-*") == []
    assert set(list_models("fcdm-*")) <= set(list_models())


def test_list_models_natural_order(sandbox):
    for name in ("toy-xl", "toy-s-8", "toy-b", "toy-s-2", "toy-l", "toy-s", "toy-s-16"):
        register_model(_toy(name))
    register_model(_toy("alpha-s", family="alpha"))
    assert list_models("toy-*") == [
        "toy-s",
        "toy-s-2",
        "toy-s-8",
        "toy-s-16",
        "toy-b",
        "toy-l",
        "toy-xl",
    ]
    everything = list_models()
    # families keep their registration order: the real ones first, then toy, then alpha
    assert everything.index("fcdm-xl") < everything.index("toy-s") < everything.index("alpha-s")


def test_alias_matches_in_patterns(sandbox):
    register_model(_toy("toy-s", aliases=("toy-small",)))
    assert list_models("toy-small") == ["toy-s"]
    assert list_models("toy-*", exclude="toy-small") == []


def test_spec_input_shapes():
    spec = get_spec("fcdm-xl")
    assert spec.input_shape(256) == (4, 32, 32)
    assert spec.input_shape(512) == (4, 64, 64)
    with pytest.raises(ConfigError):
        spec.input_shape(300)


def test_a_missing_catalogue_module_is_an_error_not_fewer_models(monkeypatch):
    """A packaging slip that drops a catalogue file must fail loudly, not hide its models."""
    missing = "fcdmbench.catalog.not_packaged"
    monkeypatch.setattr(registry, "CATALOG_MODULES", (*registry.CATALOG_MODULES, missing))
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(ModuleNotFoundError, match="not_packaged"):
        list_models()
    monkeypatch.setattr(registry, "CATALOG_MODULES", registry.CATALOG_MODULES[:-1])
    assert "fcdm-xl" in list_models()  # the real catalogue loads once the list is whole
