"""The `tamis` command line: run a recipe, list steps."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.core.errors import TamisError, first_line, root_cause
from pipeline.run.progress import per_second

# Commands that look at finished runs: (name, module with add_arguments and main, help).
VIEWS = [
    (
        "report",
        "pipeline.view.report",
        "write OUT/report.html: funnel, reasons, score plots, examples",
    ),
    ("inspect", "pipeline.view.inspect", "show rows of a kept or rejected output, filtered"),
    ("diff", "pipeline.view.diff", "rows that moved between kept and rejected in two runs"),
    ("annotate", "pipeline.teach.annotate", "rate documents with an LLM endpoint and a rubric"),
]
# `tamis train` subcommands kept in their own modules: (name, module, help).
TRAINERS = [
    (
        "classifier",
        "scorers.train_classifier",
        "a small head on frozen sentence embeddings (or fastText) from LLM annotations",
    ),
]


def _run(args: argparse.Namespace) -> int:
    from pipeline.core.recipe import load_recipe
    from pipeline.io.storage import Location
    from pipeline.run.runner import run_recipe

    recipe = load_recipe(args.recipe, args.input, args.output)
    manifest = run_recipe(
        recipe,
        runner=args.runner,
        limit=args.limit,
        overwrite=args.overwrite,
        progress=not args.quiet,
        reuse_scores=args.reuse_scores,
        cpu_fallback=args.cpu_fallback,
    )
    print(summary(manifest, str(Location.of(recipe.output.path))))
    if recipe.output.report:
        print(f"report: {write_run_report(recipe.output.path)}")
    return 0


def write_run_report(out: str) -> str:
    """Write OUT/report.html after a run; a report that fails warns, the run stays done."""
    from pipeline.view.report import write_report

    try:
        return str(write_report(out))
    except Exception as err:  # the curated set is written and reconciled: keep the exit 0
        logging.getLogger("tamis").warning(
            "the run is done, but its report failed: %s: %s (retry with `tamis report %s`)",
            type(err).__name__,
            first_line(err),
            out,
        )
        return "not written (see the warning above)"


REASONS_SHOWN = 4  # reasons printed per step in the run summary; the rest are counted
# One threshold rejecting more than this share of a step's rows is likely set for other data
# (IFD 0.7, chosen on math answers, rejects 70% of roleplay ones); a dedup or invalid reason
# carries no threshold and is never hinted at.
MOST_BY_ONE_THRESHOLD = 0.5
HINT_MIN_ROWS = 20


def summary(manifest: dict[str, Any], output: str, reasons_shown: int = REASONS_SHOWN) -> str:
    """Rows in, kept and rejected per step with every reason (the first `reasons_shown` by
    count, then "+K more"), the run's real time over all its attempts, and where it wrote."""
    rows, run = manifest["rows"], manifest["run"]
    seconds = run.get("seconds_all_attempts", run["seconds"])
    rate = rows["in"] / seconds if seconds else 0.0
    timing = f"{run['runner']} runner, {seconds:.1f} s, {per_second(rate)} rows/s"
    if run.get("attempts", 1) > 1:
        timing += f"; {run['attempts']} attempts, this one {run['seconds']:.1f} s"
    lines = [
        f"{manifest['recipe']['name']}: {rows['in']} rows in, {rows['kept']} kept, "
        f"{rows['rejected']} rejected ({timing})",
    ]
    if "tokens" in manifest:
        tokens = manifest["tokens"]
        lines.append(
            f"  tokens ({tokens['tokenizer']}): {tokens['in']:,} in, {tokens['kept']:,} kept "
            f"({tokens['kept'] / max(tokens['in'], 1):.1%})"
        )
    lines.append(f"  {'step':<28}{'rows in':>9}{'rejected':>10}  reasons")
    indent = " " * 51
    for step in manifest["steps"]:
        reasons = [f"{r} {n}" for r, n in step["reasons"].items()]
        if len(reasons) > reasons_shown + 1:
            hidden = reasons[reasons_shown:]
            count = sum(step["reasons"][r] for r in list(step["reasons"])[reasons_shown:])
            reasons = reasons[:reasons_shown] + [f"+{len(hidden)} more ({count} rows)"]
        first = reasons[0] if reasons else ""
        lines.append(f"  {step['step']:<28}{step['rows_in']:>9}{step['rejected']:>10}  {first}")
        lines.extend(indent + reason for reason in reasons[1:])
    lines.extend(threshold_hints(manifest))
    lines.append(f"output: {output}/kept, {output}/rejected, {output}/manifest.json")
    return "\n".join(lines)


def threshold_hints(manifest: dict[str, Any]) -> list[str]:
    """A line for each threshold that rejected most of the rows its step saw."""
    hints = []
    for step in manifest["steps"]:
        seen = step["rows_in"]
        if seen < HINT_MIN_ROWS:
            continue
        for reason, count in step["reasons"].items():
            if count > MOST_BY_ONE_THRESHOLD * seen and ("<" in reason or ">" in reason):
                hints.append(
                    f"  hint: {reason} alone rejected {count / seen:.0%} of the rows "
                    f"{step['step']} saw; if this data is unlike what that threshold was set "
                    "on, set it from this run's scores (report.html plots them) or keep a "
                    "share with keep_top/keep_bottom"
                )
    return hints


def _submit(args: argparse.Namespace) -> int:
    from pipeline.cluster.submit import submit

    env = dict(item.split("=", 1) for item in args.env)
    extra = [
        *(["--limit", str(args.limit)] if args.limit else []),
        *(["--overwrite"] if args.overwrite else []),
    ]
    return submit(
        args.recipe, args.address, args.output, args.pip, env, extra, wait=not args.no_wait
    )


def _list(args: argparse.Namespace) -> int:
    from pipeline.core.registry import import_modules, origin, registered

    if args.imports:
        import_modules(args.imports)
    if args.markdown is not None:
        from pipeline.core.reference import steps_markdown

        text = steps_markdown(None if args.all else "tamis")
        if args.markdown == "-":
            print(text, end="")
        else:
            Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
            Path(args.markdown).write_text(text)
            print(f"wrote {args.markdown}")
        return 0
    for name, step in registered().items():
        doc = " ".join((step.__doc__ or "").strip().split("\n\n")[0].split())
        print(f"{name} (v{step.version}, {step.kind}, from {origin(name)}): {doc}")
        for field, info in step.Params.model_fields.items():
            default = (
                "(required)"
                if info.is_required()
                else repr(info.get_default(call_default_factory=True))
            )
            print(f"    {field} = {default}  {info.description or ''}")
    return 0


def _clusters(args: argparse.Namespace) -> int:
    from pipeline.dedup.clusters import dedup_reports, describe_cluster, describe_reports
    from pipeline.io.storage import Location

    out = Location.of(args.out)
    if args.id is None:
        reports = dedup_reports(out)
        if args.step:
            reports = {k: v for k, v in reports.items() if k == args.step}
        print(describe_reports(reports))
    else:
        print(describe_cluster(out, args.id, args.step, args.id_column, args.text_column))
    return 0


def _train_quality(args: argparse.Namespace) -> int:

    from scorers.train_quality import train_quality

    card = train_quality(
        args.positive,
        args.negative,
        Path(args.out),
        text_column=args.text_column,
        holdout=args.holdout,
        seed=args.seed,
        epoch=args.epoch,
        dim=args.dim,
    )
    data, metrics = card["data"], card["metrics_heldout"]
    print(
        f"trained {args.out} on {data['train_docs']} docs ({data['positive_docs']} positive, "
        f"{data['negative_docs']} negative) in {card['train_seconds']} s; held-out "
        f"({metrics.get('docs', 0)} docs): precision {metrics.get('precision')}, recall "
        f"{metrics.get('recall')}, AUC {metrics.get('auc')}; "
        f"card {Path(args.out).with_suffix('.json')}"
    )
    return 0


def _train_lm(args: argparse.Namespace) -> int:

    from scorers.train_lm import train_lm

    card = train_lm(
        args.text,
        Path(args.out),
        order=args.order,
        vocab_size=args.vocab_size,
        text_column=args.text_column,
    )
    ref = card.get("reference_perplexity", {})
    print(
        f"trained {args.out} ({card['params']['order']}-gram over SentencePiece pieces) on "
        f"{card['data']['train_paragraphs']} paragraphs in {card['train_seconds']} s; held-out "
        f"perplexity p30 {ref.get(30)}, p60 {ref.get(60)}; card {Path(args.out) / 'card.json'}"
    )
    return 0


def positive_int(text: str) -> int:
    """An argument that must be a whole number of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from pipeline.run.executors import runner_names

    top = argparse.ArgumentParser(
        prog="tamis", description="Curate LLM training data with small models."
    )
    top.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a recipe")
    run.add_argument("recipe", help="YAML recipe, e.g. configs/web-en.yaml")
    run.add_argument("--input", help="override the recipe's input path")
    run.add_argument("--output", help="override the recipe's output folder or URI")
    run.add_argument(
        "--runner", choices=runner_names(), default="ray", help="default: ray (in-process)"
    )
    run.add_argument(
        "--limit", type=positive_int, help="read at most N rows in total, for a quick look"
    )
    run.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run in the output folder"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument(
        "--cpu-fallback", action="store_true", help="run steps that ask for GPUs on CPU if none"
    )
    run.add_argument(
        "--reuse-scores",
        "--rethreshold",
        metavar="OUT",
        help="take scores from an earlier run's output instead of running the models again "
        "(to change thresholds without rescoring)",
    )
    run.set_defaults(func=_run)
    job = sub.add_parser("submit", help="run a recipe as a job on a Ray cluster")
    job.add_argument("recipe", help="YAML recipe, e.g. configs/web-en.yaml")
    job.add_argument("--address", required=True, help="Ray dashboard URL, e.g. http://HEAD:8265")
    job.add_argument("--output", help="output folder or URI (relative paths are made absolute)")
    job.add_argument("--pip", nargs="*", help="pip requirements for the job's environment")
    job.add_argument(
        "--env", nargs="*", default=[], metavar="KEY=VALUE", help="environment variables"
    )
    job.add_argument("--limit", type=positive_int, help="read at most N rows in total")
    job.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run in the output"
    )
    job.add_argument("--no-wait", action="store_true", help="print the job id and return")
    job.set_defaults(func=_submit)
    train = sub.add_parser("train", help="train a small model").add_subparsers(
        dest="what", required=True
    )
    quality = train.add_parser("quality", help="fastText quality classifier (DCLM style)")
    quality.add_argument("--positive", nargs="+", required=True, help="inputs of high-quality text")
    quality.add_argument("--negative", nargs="+", required=True, help="inputs of low-quality text")
    quality.add_argument("--out", required=True, help="model file, e.g. models/quality.bin")
    quality.add_argument("--text-column", default="text")
    quality.add_argument("--holdout", type=float, default=0.1, help="held-out fraction for metrics")
    quality.add_argument("--seed", type=int, default=0)
    quality.add_argument("--epoch", type=int, default=5)
    quality.add_argument("--dim", type=int, default=64)
    quality.set_defaults(func=_train_quality)
    lm = train.add_parser("lm", help="SentencePiece + KenLM language model (CCNet style)")
    lm.add_argument(
        "--text", nargs="+", required=True, help=".txt files (a paragraph a line) or inputs"
    )
    lm.add_argument("--out", required=True, help="model folder, e.g. models/wiki-en")
    lm.add_argument("--order", type=int, default=5)
    lm.add_argument("--vocab-size", type=int, default=8000)
    lm.add_argument("--text-column", default="text")
    lm.set_defaults(func=_train_lm)
    for name, module, about in TRAINERS:
        _command(train, name, module, about)
    clusters = sub.add_parser(
        "clusters", help="show a run's duplicate clusters, or the members of one cluster"
    )
    clusters.add_argument("out", help="output folder or URI of a finished run")
    clusters.add_argument("id", nargs="?", help="id of a kept row: print its duplicates")
    clusters.add_argument("--step", help="only this dedup step (e.g. minhash_dedup)")
    clusters.add_argument("--id-column", default="id")
    clusters.add_argument("--text-column", default="text")
    clusters.set_defaults(func=_clusters)
    lst = sub.add_parser("list", help="list registered steps, where they come from, parameters")
    lst.add_argument(
        "--imports", nargs="*", default=[], metavar="MODULE", help="also import these modules"
    )
    lst.add_argument(
        "--markdown",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the step reference in Markdown to FILE (e.g. docs/steps.md; no FILE: stdout)",
    )
    lst.add_argument(
        "--all", action="store_true", help="with --markdown: plugin steps too, not only tamis's"
    )
    lst.set_defaults(func=_list)
    for name, module, about in VIEWS:
        _command(sub, name, module, about)
    return top


def _command(sub: Any, name: str, module: str, about: str) -> None:
    """A subcommand whose arguments and action live in `module` (add_arguments, main)."""
    found = importlib.import_module(module)
    command = sub.add_parser(name, help=about, description=about)
    found.add_arguments(command)
    command.set_defaults(func=found.main)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tamis` command: one line on stderr for any failure (the traceback
    with --debug), exit 2 when the recipe, input, output or models must change, 1 when the run
    failed on its way, 130 when interrupted."""
    logging.basicConfig(
        level=os.environ.get("TAMIS_LOG", "WARNING"), format="%(levelname)s %(name)s: %(message)s"
    )
    args = parser().parse_args(argv)
    if getattr(args, "quiet", False):
        quiet_libraries()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("tamis: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except Exception as err:
        if args.debug:
            raise
        cause = root_cause(err)
        if isinstance(cause, TamisError):
            print(f"tamis: error: {first_line(cause)}", file=sys.stderr)
            return cause.exit_code
        where = f" ({cause.filename})" if getattr(cause, "filename", None) else ""
        print(
            f"tamis: error: {type(cause).__name__}{where}: {first_line(cause)} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def quiet_libraries() -> None:
    """No progress bars or chatter from the model libraries (tqdm, transformers, the hub)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


if __name__ == "__main__":
    sys.exit(main())
