"""``nos rules``: the catalog of known rules, or a description of rules you write."""

from __future__ import annotations

import json

from nos.text_tables import markdown_table, text_table


def register(subparsers):
    parser = subparsers.add_parser(
        "rules",
        help="list the known rules, or describe rules given as text",
        description=(
            "With no RULE, print the catalog of known rules. With RULE texts such as "
            "'exp(sign(g)*sign(m))*g', parse each and print its canonical text, units, sympy "
            "form, key, fingerprint, validity and any known rule it is equivalent to."
        ),
    )
    parser.add_argument("rules", nargs="*", metavar="RULE", help="rule text or catalog name")
    parser.add_argument("--latex", action="store_true", help="add a LaTeX column to the catalog")
    parser.add_argument(
        "--format", choices=("table", "markdown", "json"), default="table", help="output format"
    )
    parser.set_defaults(run=run)


def describe(text: str) -> dict:
    from search_space import KNOWN_RULES, resolve_rule, rule_problem

    rule = resolve_rule(text)
    return {
        "input": text,
        "rule": str(rule),
        "units": len(rule),
        "sympy": str(rule.to_sympy()),
        "latex": rule.latex(),
        "key": rule.key,
        "fingerprint": rule.fingerprint,
        "state": sorted(rule.needs),
        "valid": rule_problem(rule) or "yes",
        "equivalent_to": [name for name, known in KNOWN_RULES.items() if known.equivalent(rule)],
    }


def run(args) -> int:
    from search_space import CATALOG

    if args.rules:
        described = [describe(text) for text in args.rules]
        if args.format == "json":
            print(json.dumps(described, indent=2))
        else:
            for entry in described:
                width = max(map(len, entry))
                print("\n".join(f"{k.ljust(width)}  {v}" for k, v in entry.items()) + "\n")
        return 0
    headers = ["name", "rule", "sympy", "reference"] + (["latex"] if args.latex else [])
    rows = []
    for entry in CATALOG:
        rule = entry.rule
        row = [entry.name, str(rule), str(rule.to_sympy()), entry.reference]
        rows.append(row + ([rule.latex()] if args.latex else []))
    if args.format == "json":
        print(json.dumps([dict(zip(headers, r)) for r in rows], indent=2))
    elif args.format == "markdown":
        print(markdown_table(headers, rows))
    else:
        print(text_table(headers, rows))
    return 0
