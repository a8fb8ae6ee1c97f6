"""Hostile artifact names that every path-taking surface of ModelCycle must refuse.

Shipped in the package so that every artifact store, server route and CLI command can run the
same list (``@pytest.mark.parametrize("name", TRAVERSAL_PAYLOADS)``). The groups follow the
history of MLflow's path-traversal advisories: each fix there closed one spelling of "go up a
folder" or "start somewhere else", and the next report found another. The CVE named on a group
is the advisory whose technique the group reproduces, in the shape an artifact *name* takes;
the original reports went through other parameters too (``source``, ``artifact_location``).

Every entry must make ``modelcycle.core.paths.normalize_artifact_name`` raise ``InvalidInput``.
Names that merely look odd but are harmless (``....``, ``a..b``, ``v1;final``) are not here:
they are legal names.
"""

from __future__ import annotations

__all__ = ["TRAVERSAL_PAYLOADS"]

TRAVERSAL_PAYLOADS: tuple[str, ...] = (
    # --- CVE-2023-1177 (and CVE-2023-2356): the first reports. A plain "../" chain in the
    # artifact path parameter, and model sources that were relative climbs.
    "..",
    "../",
    "../../../../../../etc/passwd",
    "a/../../b",
    "plots/../../../etc/shadow",
    "./../secret",
    "a/b/c/../../../../x",
    "a/..",
    # --- CVE-2023-1177 / CVE-2024-3573: absolute locations. Joining a root with an absolute
    # name discards the root; the 2024 report slipped local paths through a URI-parsing check
    # that took empty or "file" schemes for remote ones.
    "/etc/passwd",
    "//etc/passwd",
    "///etc/passwd",
    "/",
    "file:///etc/passwd",
    "file:/etc/passwd",
    "file://localhost/etc/passwd",
    "http://attacker.example/payload",
    "mlflow-artifacts:/../../etc",
    "s3://someone-elses-bucket/key",
    # --- CVE-2023-2780, CVE-2023-6909, CVE-2023-6977: backslash separators, which a check that
    # only splits on "/" does not see and a Windows path API then honours.
    "..\\..\\windows\\win.ini",
    "\\..\\..\\etc\\passwd",
    "\\\\server\\share\\file",
    "a\\..\\..\\b",
    "..\\/..\\/etc",
    # --- Windows drive letters: absolute on Windows although they start with a letter.
    "C:\\Windows\\System32\\config\\SAM",
    "c:/windows/win.ini",
    "C:",
    "C:secret.txt",
    # --- CVE-2023-6831 (and the encoded-URL fix that followed it): percent-encoded dots and
    # separators that were validated before being decoded.
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2E%2E/%2E%2E/etc",
    "..%5c..%5cwindows",
    "%2fetc%2fpasswd",
    # --- CVE-2024-1560: double (and here triple) encoding, the bypass of the CVE-2023-6831 fix,
    # which decoded exactly once.
    "%252e%252e%252f%252e%252e%252fetc",
    "..%252f..%252fetc%252fpasswd",
    "%25252e%25252e%25252fetc",
    # --- CVE-2024-1593: ";" path parameters. A router drops ";..." before the path check while
    # the filesystem layer keeps it, or the other way round.
    "..;/..;/etc/passwd",
    "a/..;/..;/b",
    "..;x/etc",
    "%2e%2e;/etc",
    # --- CVE-2024-1483, CVE-2024-1594, CVE-2024-3848: "#" fragments (and "?" queries, the
    # earlier fix these bypassed). Whatever follows "#" is dropped by URL parsing before the
    # check and read back as a path afterwards.
    "#/../../../etc/passwd",
    "x#/../../etc",
    "?/../../etc",
    "a?x=../../etc",
    "%23/../../etc",
    "%3f/../../etc",
    # --- NUL and control characters: C-level APIs stop at NUL ("safe.png" checked, "safe"
    # opened); newlines forge log lines and HTTP headers.
    "\x00",
    "%00",
    "a\x00/../../etc",
    "safe.txt%00.png",
    "a\nb",
    "%0d%0aSet-Cookie:x",
    # --- Home-directory expansion in shells and os.path.expanduser.
    "~",
    "~/.ssh/id_rsa",
    "~root/.bashrc",
    # --- Spellings of ".." that other layers fold: fullwidth dots (NFKC), trailing spaces
    # (Windows), and overlong UTF-8 encodings of "." that are not valid UTF-8 at all.
    "\uff0e\uff0e/\uff0e\uff0e/etc",
    ".. /.. /etc",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/etc",
    # --- Degenerate names: empty, only "current folder", and oversize input.
    "",
    ".",
    "./",
    "a" * 1025,
)
