"""The search-filter grammar: text such as ``metrics.acc > 0.8 and params.model = 'gbm'``.

This docstring is the one place the grammar is written down; the store compiles the typed tree
that ``parse_filter`` returns, and ``format_filter`` writes a tree back as canonical text.

Prose
=====

A filter is a boolean combination of comparisons. ``not`` binds tighter than ``and``, which
binds tighter than ``or``; parentheses group. Keywords (``and or not like ilike in is null asc
desc``) are case-insensitive; field keys and string values are case-sensitive.

A **field** is ``NAMESPACE.KEY``. The namespaces are ``metrics`` (alias ``metric``), ``params``
(``param``), ``tags`` (``tag``) and ``attributes`` (``attribute``, ``attr``); the namespace
word is case-insensitive. A bare attribute name (``status``, ``start_time``...) means
``attributes.NAME``. A KEY is either a run of the characters ``A-Z a-z 0-9 _ . : / -``
(so ``metrics.val.loss`` has the key ``val.loss``) or a quoted key written right after the
dot, in backticks or double quotes (``metrics.`my metric```); a quote character is doubled to
put it inside. ``format_filter`` uses backticks exactly when the key needs them.

A **value** is a string in single quotes (``'it''s'``), a string in double quotes, or a
decimal number (``3``, ``-0.5``, ``1e-3``, ``.5``). Every number is read as a ``float``.
``inf``, ``nan``, booleans and bare words are not values; ``null`` appears only in
``is null`` / ``is not null``.

What each field accepts (checked at parse time, and again when a ``Comparison`` is built):

============================== =================================== ===========================
field                          with a number                       with a string
============================== =================================== ===========================
``metrics.*``                  ``= != < <= > >=``                  (not allowed)
``params.*``, ``tags.*``       ``= != < <= > >=`` (compared as     ``= != like ilike in``
                               numbers against values that parse   ``not in``
                               as numbers)
``status``                     (not allowed)                       ``= != in not in``; one of
                                                                   ``RUN_STATUSES``, any case,
                                                                   stored lower-case
``start_time``, ``end_time``   ``= != < <= > >=`` (epoch ms)       an ISO-8601 date or date-time
                                                                   (naive means UTC), converted
                                                                   to epoch milliseconds
``run_id name project          (not allowed)                       ``= != like ilike in``
parent_id``                                                        ``not in``
============================== =================================== ===========================

``is null`` / ``is not null`` apply to metrics, params, tags and to the attributes that may be
empty: ``end_time`` and ``parent_id``. ``in`` / ``not in`` take a non-empty parenthesised list.

EBNF
====

::

    filter      = [ or_expr ] ;                         (* empty or blank text: no filter *)
    or_expr     = and_expr , { "or" , and_expr } ;
    and_expr    = not_expr , { "and" , not_expr } ;
    not_expr    = "not" , not_expr | primary ;
    primary     = "(" , or_expr , ")" | comparison ;    (* at most 100 nested levels *)
    comparison  = field , ( compare_op , value
                          | ( "like" | "ilike" ) , string
                          | [ "not" ] , "in" , "(" , value , { "," , value } , ")"
                          | "is" , [ "not" ] , "null" ) ;
    compare_op  = "=" | "!=" | "<" | "<=" | ">" | ">=" ;
    field       = namespace , "." , key | attribute ;
    namespace   = "metrics" | "metric" | "params" | "param" | "tags" | "tag"
                | "attributes" | "attribute" | "attr" ;
    attribute   = "run_id" | "name" | "status" | "start_time" | "end_time" | "project"
                | "parent_id" ;
    key         = keychar , { keychar } | quoted_key ;  (* a quoted key follows the dot directly *)
    keychar     = letter | digit | "_" | "." | ":" | "/" | "-" ;
    quoted_key  = "`" , { any - "`" | "``" } , "`" | '"' , { any - '"' | '""' } , '"' ;
    value       = string | number ;
    string      = "'" , { any - "'" | "''" } , "'" | '"' , { any - '"' | '""' } , '"' ;
    number      = [ "+" | "-" ] , ( digits , [ "." , [ digits ] ] | "." , digits ) ,
                  [ ( "e" | "E" ) , [ "+" | "-" ] , digits ] ;

    order_by    = order_key , { "," , order_key } ;
    order_key   = field , [ "asc" | "desc" ] ;

The tree
========

``Comparison`` leaves under ``And``, ``Or`` and ``Not``. The tree is **normalised by the
constructors**: ``And`` absorbs the items of any ``And`` it is given (likewise ``Or``), so
``a and (b and c)``, ``(a and b) and c`` and ``a and b and c`` are the same ``And`` of three
items, whichever way the tree was built. ``format_filter`` writes the fewest parentheses that
keep the tree, and ``parse_filter(format_filter(e)) == e`` for every tree. ``not not x`` stays
``Not(Not(x))``. Every syntax or semantic error is an ``InvalidFilter`` carrying the offset of
the offending token.
"""

from __future__ import annotations

from modelcycle.core._filter_ast import (
    ATTRIBUTE_KEYS,
    MAX_DEPTH,
    RUN_STATUSES,
    And,
    Comparison,
    Expr,
    Field,
    Namespace,
    Not,
    Op,
    Or,
    OrderKey,
    Scalar,
    format_field,
    format_filter,
    format_order_key,
)
from modelcycle.core._filter_parser import parse_filter, parse_order_by

__all__ = [
    "ATTRIBUTE_KEYS",
    "MAX_DEPTH",
    "RUN_STATUSES",
    "And",
    "Comparison",
    "Expr",
    "Field",
    "Namespace",
    "Not",
    "Op",
    "Or",
    "OrderKey",
    "Scalar",
    "format_field",
    "format_filter",
    "format_order_key",
    "parse_filter",
    "parse_order_by",
]
