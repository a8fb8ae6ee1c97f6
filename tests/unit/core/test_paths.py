import re
from pathlib import Path

import pytest

from modelcycle.core.errors import InvalidInput
from modelcycle.core.paths import MAX_NAME_LENGTH, check_uri, confine, normalize_artifact_name
from modelcycle.testing.traversal_payloads import TRAVERSAL_PAYLOADS


def test_payload_catalogue_is_large_and_distinct() -> None:
    assert len(TRAVERSAL_PAYLOADS) >= 40
    assert len(set(TRAVERSAL_PAYLOADS)) == len(TRAVERSAL_PAYLOADS)


@pytest.mark.parametrize("name", TRAVERSAL_PAYLOADS)
def test_every_traversal_payload_is_refused(name: str) -> None:
    with pytest.raises(
        InvalidInput, match=r"^artifact name (must not be empty$|'.*(is refused: |is too long))"
    ):
        normalize_artifact_name(name)


@pytest.mark.parametrize("name", TRAVERSAL_PAYLOADS)
def test_every_traversal_payload_is_refused_by_confine(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"^artifact name"):
        confine(tmp_path, name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../etc/passwd", "it has a '..' segment"),
        ("a/../../b", "it has a '..' segment"),
        ("a/..", "it has a '..' segment"),
        ("..\\windows", "it has a '..' segment"),
        ("..%2fetc", "it has a '..' segment"),
        ("%252e%252e/etc", "it has a '..' segment"),
        ("..;/etc", "it has a '..' segment"),
        ("x;../etc", "it has a '..' segment"),
        (".. /etc", "it has a '..' segment"),
        ("\uff0e\uff0e/etc", "it has a '..' segment"),
        ("\u2025/etc", "it has a '..' segment"),  # TWO DOT LEADER folds to ".."
        ("/etc/passwd", "it is an absolute path"),
        ("//server/share", "it is an absolute path"),
        ("\\\\server\\share", "it is an absolute path"),
        ("%2fetc", "it is an absolute path"),
        ("C:\\x", "it starts with a drive letter \\('C:'\\)"),
        ("c:/x", "it starts with a drive letter \\('c:'\\)"),
        ("Z:", "it starts with a drive letter \\('Z:'\\)"),
        ("file:///etc/passwd", "it starts with a URL scheme \\('file:'\\)"),
        ("s3://bucket/key", "it starts with a URL scheme \\('s3:'\\)"),
        ("git+ssh:x", "it starts with a URL scheme \\('git\\+ssh:'\\)"),
        ("./C:", "it starts with a drive letter \\('C:'\\)"),  # found by the idempotence property
        (".%2F~", "a leading '~' means a home folder"),
        ("//./file:x", "it is an absolute path"),
        ("~", "a leading '~' means a home folder"),
        ("~user/x", "a leading '~' means a home folder"),
        ("a#b", "'#' would start a URL fragment"),
        ("a%23b", "'#' would start a URL fragment"),
        ("a?b", "'\\?' would start a URL query"),
        ("a\x00b", "it contains the control character '\\\\x00'"),
        ("a%00b", "it contains the control character '\\\\x00'"),
        ("a\tb", "it contains the control character '\\\\t'"),
        ("a\x7fb", "it contains the control character '\\\\x7f'"),
        ("a\u2028b", "it contains the control character"),
        ("a\ud800b", "it contains the control character"),
        ("%ff", "its percent-escapes do not decode to UTF-8"),
        (".", "it names no file or folder"),
        ("./././", "it names no file or folder"),
        ("%2e", "it names no file or folder"),
    ],
)
def test_refusals_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=f"^artifact name {re.escape(repr(name))} is refused: "):
        normalize_artifact_name(name)
    with pytest.raises(InvalidInput, match=reason):
        normalize_artifact_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "^artifact name must not be empty$"),
        ("a" * (MAX_NAME_LENGTH + 1), r"\(1025 characters\) is too long: the limit is 1024"),
        (b"a", "^artifact name must be a string, got bytes$"),
        (None, "^artifact name must be a string, got NoneType$"),
    ],
)
def test_degenerate_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        normalize_artifact_name(name)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("model.pkl", "model.pkl"),
        ("plots/roc.png", "plots/roc.png"),
        ("plots\\roc.png", "plots/roc.png"),
        ("plots//roc.png", "plots/roc.png"),
        ("./plots/./roc.png", "plots/roc.png"),
        ("plots/", "plots"),
        ("plots/roc.png/", "plots/roc.png"),
        ("plots%2Froc.png", "plots/roc.png"),
        ("plots%252Froc.png", "plots/roc.png"),
        ("my%20plot.png", "my plot.png"),
        ("100%25.txt", "100%.txt"),
        ("100%.txt", "100%.txt"),
        ("....", "...."),
        ("...", "..."),
        ("a..b", "a..b"),
        ("..a", "..a"),
        ("a/..b/c", "a/..b/c"),
        ("v1;final", "v1;final"),
        ("a~b/~c", "a~b/~c"),
        ("x/C:/y", "x/C:/y"),
        ("x/file:y", "x/file:y"),
        ("données/été.csv", "données/été.csv"),
        ("a b/c d", "a b/c d"),
        (" leading-space", " leading-space"),
        ("a" * MAX_NAME_LENGTH, "a" * MAX_NAME_LENGTH),
    ],
)
def test_names_normalise_to_canonical_form(name: str, canonical: str) -> None:
    assert normalize_artifact_name(name) == canonical
    assert normalize_artifact_name(canonical) == canonical


def test_confine_returns_the_resolved_path_inside_the_root(tmp_path: Path) -> None:
    assert confine(tmp_path, "plots\\roc.png") == tmp_path.resolve() / "plots" / "roc.png"
    assert confine(str(tmp_path), "a/./b/") == tmp_path.resolve() / "a" / "b"


def test_confine_resolves_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert confine(link, "x.txt") == real.resolve() / "x.txt"


def test_confine_refuses_a_symlink_pointing_outside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    (root / "escape").symlink_to(outside)
    with pytest.raises(
        InvalidInput, match=r"^artifact name 'escape/secret\.txt' is refused: .*outside"
    ):
        confine(root, "escape/secret.txt")
    with pytest.raises(InvalidInput, match="outside"):
        confine(root, "escape")


def test_confine_refuses_a_symlink_to_an_absolute_file(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput, match="resolves to '/etc/passwd'"):
        confine(root, "passwd")


def test_confine_refuses_a_symlink_to_the_root_itself(tmp_path: Path) -> None:
    (tmp_path / "self").symlink_to(tmp_path)
    with pytest.raises(InvalidInput, match="outside"):
        confine(tmp_path, "self")
    assert confine(tmp_path, "self/x") == tmp_path.resolve() / "x"


def test_confine_allows_a_symlink_that_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "data")
    assert confine(tmp_path, "alias/f.csv") == tmp_path.resolve() / "data" / "f.csv"


def test_confine_survives_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = confine(tmp_path, "a/x")
    assert result.is_relative_to(tmp_path.resolve())


def test_confine_refuses_a_root_that_is_a_prefix_string_only(tmp_path: Path) -> None:
    root = tmp_path / "art"
    sibling = tmp_path / "art-other"
    root.mkdir()
    sibling.mkdir()
    (root / "s").symlink_to(sibling)
    with pytest.raises(InvalidInput, match="outside"):
        confine(root, "s/x")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/prefix",
        "s3://bucket/a..b/c",
        "file:///x",
        "/abs/folder",
        "relative/folder",
        "./mlruns",
        "sqlite:///tmp/store.db",
        "postgresql://user:p%40ss@host:5432/db",
        "http://host/path?x=1&y=a..b#frag",
        "gs://b/....",
    ],
)
def test_check_uri_returns_good_uris_unchanged(uri: str) -> None:
    assert check_uri(uri) is uri


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "^URI must not be empty$"),
        ("   ", "^URI must not be empty$"),
        ("s3://bucket/../other", "^URI 's3://bucket/../other' is refused: it has a '..' segment"),
        ("..", "it has a '..' segment"),
        ("../outside", "it has a '..' segment"),
        ("/srv/a/..", "it has a '..' segment"),
        ("file:///srv/%2e%2e/etc", "it has a '..' segment"),
        ("file:///srv/%252e%252e/etc", "it has a '..' segment"),
        ("http:///#/../../etc/", "it has a '..' segment"),
        ("http://host/a?p=../../etc", "it has a '..' segment"),
        ("http://host/a?p=x&q=..", "it has a '..' segment"),
        ("s3://b/..;/x", "it has a '..' segment"),
        ("C:\\store\\..\\x", "it has a '..' segment"),
        ("/srv/a\x00b", "it contains the control character '\\\\x00'"),
        ("/srv/a%00b", "it contains the control character '\\\\x00'"),
        ("/srv/a\nb", "it contains the control character '\\\\n'"),
        ("s3://b/%c0%ae", "its percent-escapes do not decode to UTF-8"),
        ("s3://b/" + "a" * 5000, "is too long: the limit is 4096"),
        (3, "^URI must be a string, got int$"),
    ],
)
def test_check_uri_refuses_hostile_uris(uri: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_uri(uri)


def test_refusals_are_value_errors() -> None:
    with pytest.raises(ValueError, match="is refused"):
        normalize_artifact_name("../x")
