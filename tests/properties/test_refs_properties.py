from hypothesis import given
from hypothesis import strategies as st

from modelcycle.core.errors import InvalidInput
from modelcycle.core.refs import MAX_VERSION, Ref, format_ref, parse_ref

_NAME_TAIL = st.sampled_from("abcXYZ019._-")
names = st.builds(
    lambda head, tail: head + "".join(tail),
    st.sampled_from("aZ09"),
    st.lists(_NAME_TAIL, max_size=127),
)
aliases = st.builds(
    lambda head, tail: head + "".join(tail),
    st.sampled_from("aZlp"),
    st.lists(_NAME_TAIL, max_size=63),
)
refs = st.one_of(
    st.builds(lambda n, v: Ref(n, version=v), names, st.integers(1, MAX_VERSION)),
    st.builds(lambda n, a: Ref(n, alias=a), names, aliases),
    st.builds(Ref, names),
)


@given(refs)
def test_parse_inverts_format(ref: Ref) -> None:
    assert parse_ref(format_ref(ref)) == ref


@given(refs)
def test_format_is_a_fixed_point(ref: Ref) -> None:
    text = format_ref(ref)
    assert format_ref(parse_ref(text)) == text


@given(st.text())
def test_parse_raises_only_invalid_input(text: str) -> None:
    try:
        ref = parse_ref(text)
    except InvalidInput:
        return
    assert format_ref(ref) in (text, text + "@latest")


@given(names, st.text(alphabet="0123456789-+. ", max_size=25))
def test_numeric_selectors_parse_only_as_canonical_versions(name: str, selector: str) -> None:
    try:
        ref = parse_ref(f"{name}@{selector}")
    except InvalidInput:
        return
    assert ref.version is not None
    assert str(ref.version) == selector
