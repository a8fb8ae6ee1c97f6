import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.core.refs import (
    MAX_VERSION,
    Ref,
    check_alias,
    check_name,
    format_ref,
    parse_ref,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", Ref("churn", alias="latest")),
        ("churn@latest", Ref("churn", alias="latest")),
        ("churn@3", Ref("churn", version=3)),
        ("churn@1", Ref("churn", version=1)),
        ("churn@10", Ref("churn", version=10)),
        ("churn@production", Ref("churn", alias="production")),
        ("churn@Champion-2", Ref("churn", alias="Champion-2")),
        ("churn@v3", Ref("churn", alias="v3")),
        ("churn@a.b_c-d", Ref("churn", alias="a.b_c-d")),
        ("0model@1", Ref("0model", version=1)),
        ("my.model_v2-final@7", Ref("my.model_v2-final", version=7)),
        (f"m@{MAX_VERSION}", Ref("m", version=MAX_VERSION)),
        ("m" * 128, Ref("m" * 128)),
        ("m@" + "a" * 64, Ref("m", alias="a" * 64)),
    ],
)
def test_parse_ref_accepts_valid_references(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "invalid reference '': name must not be empty"),
        ("@3", "invalid reference '@3': name must not be empty"),
        ("churn@", "expected a version number or an alias after '@'"),
        ("churn@0", "version '0' is not a positive whole number"),
        ("churn@03", "version '03' is not a positive whole number written without leading zeros"),
        ("churn@-1", "version '-1' is not a positive whole number"),
        ("churn@+1", "version '\\+1' is not a positive whole number"),
        ("churn@1.5", "version '1.5' is not a positive whole number"),
        ("churn@3a", "version '3a' is not a positive whole number"),
        ("churn@1 ", "version '1 ' is not a positive whole number"),
        (f"churn@{MAX_VERSION + 1}", f"is larger than {MAX_VERSION}"),
        ("churn@" + "9" * 5000, f"is larger than {MAX_VERSION}"),
        ("churn@a@b", "'@' may appear only once"),
        ("churn@@3", "'@' may appear only once"),
        ("churn@_x", "alias '_x' is not valid: .* starting with a letter"),
        ("churn@.x", "alias '.x' is not valid"),
        ("churn@pro duction", "alias 'pro duction' is not valid"),
        ("churn@prod/1", "alias 'prod/1' is not valid"),
        ("churn@" + "a" * 65, "alias 'aaaaaaaaaaaaaaaaaaaa'... \\(65 characters\\) is too long"),
        ("churn@ünïcode", "alias 'ünïcode' is not valid"),
        (" churn", "name ' churn' is not valid"),
        ("ch urn@1", "name 'ch urn' is not valid"),
        ("a/b@1", "name 'a/b' is not valid"),
        ("-churn", "name '-churn' is not valid: .* starting with a letter or digit"),
        (".churn", "name '.churn' is not valid"),
        ("m" * 129, "is too long; the limit is 128 characters"),
    ],
)
def test_parse_ref_refuses_malformed_text(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_ref(text)


def test_parse_ref_error_names_the_text() -> None:
    with pytest.raises(InvalidInput, match=r"^invalid reference 'churn@03': "):
        parse_ref("churn@03")


def test_parse_ref_error_cuts_very_long_text_short() -> None:
    with pytest.raises(InvalidInput, match=r"\(10000 characters\)") as caught:
        parse_ref("a@" + "1" * 10_000)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("ref", "text"),
    [
        (Ref("churn", version=3), "churn@3"),
        (Ref("churn", alias="latest"), "churn@latest"),
        (Ref("churn"), "churn@latest"),
        (Ref("churn", alias="production"), "churn@production"),
    ],
)
def test_format_ref_is_canonical(ref: Ref, text: str) -> None:
    assert format_ref(ref) == text
    assert str(ref) == text


@pytest.mark.parametrize(
    ("ref", "is_latest"),
    [
        (Ref("m"), True),
        (Ref("m", alias="latest"), True),
        (Ref("m", alias="Latest"), False),
        (Ref("m", alias="production"), False),
        (Ref("m", version=1), False),
    ],
)
def test_is_latest_only_for_the_reserved_alias(ref: Ref, is_latest: bool) -> None:
    assert ref.is_latest is is_latest


def test_bare_ref_equals_explicit_latest() -> None:
    assert Ref("m") == Ref("m", alias="latest")
    assert hash(Ref("m")) == hash(Ref("m", alias="latest"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "m", "version": 1, "alias": "prod"}, "has both version 1 and alias 'prod'"),
        ({"name": "m", "version": 0}, "version 0 is out of range"),
        ({"name": "m", "version": -3}, "version -3 is out of range"),
        ({"name": "m", "version": MAX_VERSION + 1}, "is out of range"),
        ({"name": "m", "version": True}, "version must be an int, got True"),
        ({"name": "m", "version": 1.0}, "version must be an int, got 1.0"),
        ({"name": "m", "alias": "1"}, "alias '1' is not valid"),
        ({"name": "m", "alias": ""}, "alias must not be empty"),
        ({"name": "bad name"}, "name 'bad name' is not valid"),
        ({"name": ""}, "name must not be empty"),
    ],
)
def test_ref_constructor_refuses_invalid_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Ref(**kwargs)  # type: ignore[arg-type]


def test_ref_is_frozen() -> None:
    ref = Ref("m", version=1)
    with pytest.raises(AttributeError, match="cannot assign"):
        ref.version = 2  # type: ignore[misc]


@pytest.mark.parametrize("name", ["a", "A1", "0", "x.y", "x_y", "x-y", "a" * 128])
def test_check_name_returns_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "what", "message"),
    [
        ("", "model name", "^model name must not be empty$"),
        ("a@b", "model name", "^model name 'a@b' is not valid"),
        ("a b", "dataset name", "^dataset name 'a b' is not valid"),
        ("_a", "name", "^name '_a' is not valid"),
        ("a\x00", "name", "is not valid"),
        ("a" * 129, "project name", "^project name 'aaaa.* is too long"),
        (3, "name", "^name must be a string, got int$"),
    ],
)
def test_check_name_refuses_invalid_names(name: str, what: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_name(name, what)


@pytest.mark.parametrize("alias", ["latest", "production", "p", "Champion", "a1.b_c-d"])
def test_check_alias_returns_valid_aliases(alias: str) -> None:
    assert check_alias(alias) == alias


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("", "alias must not be empty"),
        ("123", "alias '123' is not valid"),
        ("1abc", "alias '1abc' is not valid"),
        ("-x", "alias '-x' is not valid"),
        ("a b", "alias 'a b' is not valid"),
        ("a@b", "alias 'a@b' is not valid"),
        ("a" * 65, "is too long; the limit is 64 characters"),
        (None, "alias must be a string, got NoneType"),
    ],
)
def test_check_alias_refuses_invalid_aliases(alias: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_alias(alias)


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="invalid reference"):
        parse_ref("m@0")
