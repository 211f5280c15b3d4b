"""``nos export``: a rule as a standalone optimizer class (Keras 3, TF1-compat or PyTorch)."""

from __future__ import annotations

from typing import NamedTuple

from nos.errors import NosError

FORMATS = ("keras", "tf1", "torch")


class ResolvedRule(NamedTuple):
    """A rule named on the command line, with where it came from (None: let the exporter say)."""

    rule: object
    origin: str | None = None


def register(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="write a rule as a standalone optimizer class",
        description=(
            "Generate the source of an optimizer class that applies RULE (rule text such as "
            "'exp(sign(g)*sign(m))*g', or a catalog name such as powersign): a Keras 3 "
            "Optimizer, a tf.compat.v1.train.Optimizer, or a torch.optim.Optimizer. The file "
            "imports only its framework. Nothing is written on error."
        ),
    )
    parser.add_argument("rule", metavar="RULE", help="rule text or catalog name")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the target framework")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.py", help="where to write the module (- for stdout)")
    parser.add_argument("--name", metavar="ClassName", help="class name (default: from the catalog name)")
    parser.add_argument("--origin", metavar="TEXT", help="where the rule came from, for the docstring")
    parser.add_argument("--force", action="store_true", help="overwrite FILE.py if it exists")
    parser.set_defaults(run=run)


def resolve_rule(text: str) -> ResolvedRule:
    """The one rule `text` names: rule text, a catalog name or ``runs/NAME#K`` (see nos.rule_references).

    A search result keeps its origin (run, rank, reward) for the docstring; for text and catalog
    names the exporter finds the catalog entry itself.
    """
    from nos.rule_references import resolve

    refs = resolve(text)
    if len(refs) != 1:
        raise NosError(f"{text} names {len(refs)} rules; export one of them with {text}#K")
    ref = refs[0]
    return ResolvedRule(ref.rule, ref.origin if ref.origin.startswith("search run") else None)


def run(args) -> int:
    import sys
    from pathlib import Path

    from nos.export import export_rule

    resolved = resolve_rule(args.rule)
    source = export_rule(
        resolved.rule, args.format, class_name=args.name, origin=args.origin or resolved.origin
    )
    if args.output == "-":
        sys.stdout.write(source)
        return 0
    path = Path(args.output)
    if path.is_dir():
        raise NosError(f"{path} is a directory; give a file name such as {path / 'optimizer.py'}")
    try:
        with open(path, "w" if args.force else "x", encoding="utf-8") as file:
            file.write(source)
    except FileExistsError:
        raise NosError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as error:
        raise NosError(f"cannot write {path}: {error.strerror or error}") from None
    print(f"wrote {path} ({args.format}, rule {resolved.rule})")
    return 0
