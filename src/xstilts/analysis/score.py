"""``xstilts score``: score a predictions folder in the XTREME submission layout.

Layout (as google-research/xtreme ``evaluate.py``)::

    <pred_dir>/<task>/test-<lang>.<ext>      predictions
    <label_dir>/<task>/test-<lang>.<ext>     gold labels, same names

``ext`` per task: ``json`` for QA (xquad, mlqa, tydiqa) and Mewsli-X, ``jsonl``
for XCOPA (XTREME-R: one JSON object per line, its ``"label"`` compared), ``tsv``
for everything else (one label per line; tagging: one tag per line, sentences
separated by a blank line; BUCC: one ``<src-id>\\t<trg-id>`` pair per line).

Numbers are the official ones (percentages). Differences from ``evaluate.py``, all
stricter, none changing a value:

* languages are those with a label file (``test-*.<ext>``) in the task's label
  folder, ordered as the official language list, then the rest alphabetically; a
  missing prediction file, a prediction file with no label file, or a file with the
  wrong extension is an error naming the file (officially: a crash or skip);
* a count mismatch is an error that names both files and both counts (and, for
  tagging, the first sentence whose length differs);
* for QA, unanswered gold questions score 0 as officially, and their number is
  reported (``n_unanswered``) and warned about on stderr;
* Mewsli-X and LAReQA get a headline ``metric`` (= map@20), which the official
  script lacks (it would raise a KeyError when printing);
* LAReQA is scored from ``test-<lang>.json`` files holding ``{query id: [ranked
  candidate ids]}`` (labels: ``{query id: [relevant candidate ids]}``); the
  official ``evaluate.py`` lists no LAReQA languages, so this layout is ours.

Result of :func:`score_predictions`::

    {task: {lang: {metric: value, ..., "n": examples}, "avg": {metric: mean, "metric": headline}}}

``avg[m]`` is the unweighted mean over the languages `eval.json` averages (the task's
``averaged_languages``: XCOPA leaves out its English COPA reference; official ``avg_<m>``) and
``avg["metric"]`` the official ``avg_metric``: (EM + F1) / 2 for QA, else F1 if the
task has one, else accuracy (else map@20). Count keys (``n``, ``n_unanswered``) are
never averaged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from xstilts.analysis import metrics as M
from xstilts.core.paths import parse_submission, submission_file
from xstilts.core.registry import TASKS as REGISTRY

__all__ = [
    "SCORERS",
    "GROUPS",
    "VERSION_TASKS",
    "ScoreError",
    "UnknownTaskError",
    "known_tasks",
    "score_file",
    "score_predictions",
    "group_scores",
    "format_scores",
    "main",
]


class ScoreError(ValueError):
    """A prediction file cannot be scored against its label file (counts, format)."""


class UnknownTaskError(ValueError):
    """A task name with no submission format in the registry (``Task.submission``)."""


# --------------------------------------------------------------------------- readers
def _read_lines(path: Path) -> list[str]:
    """evaluate.py ``read_label``: every line, stripped (a blank line is an example)."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f]


def _read_tag_sentences(path: Path) -> list[tuple[int, list[str]]]:
    """evaluate.py ``read_tag``: stripped lines grouped into sentences at blank lines.

    Returns ``(first line number, tags)`` per sentence. Like the official reader, a
    blank line always closes a sentence, so two blank lines in a row give an empty
    sentence.
    """
    sentences: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 1
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if line:
                if not current:
                    start = lineno
                current.append(line)
            else:
                sentences.append((start if current else lineno, current))
                current = []
    if current:
        sentences.append((start, current))
    return sentences


def _read_json(path: Path) -> Any:
    """evaluate.py ``read_squad``: the JSON document, or its ``data`` member if present."""
    with open(path, encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise ScoreError(f"{path}: not valid JSON (line {e.lineno}): {e.msg}") from None
    if isinstance(doc, dict) and "data" in doc:
        return doc["data"]
    return doc


def _read_jsonl_labels(path: Path) -> list[Any]:
    """evaluate.py ``read_xcopa``: the ``"label"`` of the JSON object on every line."""
    labels = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ScoreError(f"{path}:{lineno}: not a JSON object: {e.msg}") from None
            if not isinstance(obj, dict) or "label" not in obj:
                raise ScoreError(f"{path}:{lineno}: JSON line without a \"label\" key")
            labels.append(obj["label"])
    return labels


def _count_mismatch(task: str, pred: Path, label: Path, n_pred: int, n_label: int,
                    unit: str) -> ScoreError:
    return ScoreError(f"{task}: {pred} has {n_pred} {unit} but {label} has {n_label} {unit}")


# --------------------------------------------------------------------------- per-kind scorers
# Each takes (task, prediction file, label file, language) and returns fractions plus
# counts: {metric: fraction, "n": int, ...}.

def _accuracy_scorer(read: Callable[[Path], list]):
    """Accuracy over one label per line; ``read`` parses a file (``.tsv`` lines or ``.jsonl``)."""
    def score(task: str, pred: Path, label: Path, lang: str) -> dict:
        preds, golds = _read_label_pair(read)(task, pred, label)
        if not golds:
            raise ScoreError(f"{task}: {label} is empty")
        return {"accuracy": M.accuracy(preds, golds), "n": len(golds)}
    return score


_score_labels = _accuracy_scorer(_read_lines)
_score_jsonl_labels = _accuracy_scorer(_read_jsonl_labels)


def _score_tags(task: str, pred: Path, label: Path, lang: str) -> dict:
    preds, golds = _read_tag_pair(task, pred, label)
    if not golds:
        raise ScoreError(f"{task}: {label} is empty")
    out = M.seqeval_prf(golds, preds)
    out["n"] = sum(len(g) for g in golds)
    return out


def _score_bucc(task: str, pred: Path, label: Path, lang: str) -> dict:
    # No count check: predicted and gold pair sets legitimately differ in size.
    golds = _read_lines(label)
    out = M.bucc_prf(_read_lines(pred), golds)
    out["n"] = len(golds)
    return out


def _qa_scorer(evaluate: Callable[[Any, Mapping[str, str], str], dict]):
    def score(task: str, pred: Path, label: Path, lang: str) -> dict:
        dataset, predictions = _read_json(label), _read_json(pred)
        if not isinstance(predictions, dict):
            raise ScoreError(f"{task}: {pred} must hold one JSON object "
                             "{question id: answer text}")
        try:
            out = evaluate(dataset, predictions, lang)
        except (KeyError, TypeError) as e:
            raise ScoreError(f"{task}: {label} is not SQuAD-format JSON ({e!r})") from None
        except ValueError as e:
            raise ScoreError(f"{task}: {label}: {e}") from None
        if out["n_unanswered"]:
            print(f"warning: {task}: {pred} answers {out['n'] - out['n_unanswered']} of the "
                  f"{out['n']} questions in {label}; {out['n_unanswered']} score 0",
                  file=sys.stderr)
        return out
    return score


def _ranking_scorer(kind: str):
    def score(task: str, pred: Path, label: Path, lang: str) -> dict:
        preds, golds = _read_ranking_pair(task, pred, label)
        if not golds:
            raise ScoreError(f"{task}: {label} holds no examples")
        missing = sum(1 for k in golds if k not in preds)
        if missing:
            print(f"warning: {task}: {pred} has no ranking for {missing} of the {len(golds)} "
                  f"examples in {label}; they score 0", file=sys.stderr)
        if kind == "mewslix":
            value = M.mewslix_map_at_k(golds, preds, k=20)
        else:
            value = M.mean_average_precision_at_k(golds, preds, k=20)
        return {"map@20": value, "n": len(golds), "n_unanswered": missing}
    return score


# --------------------------------------------------------------------------- scorers
# A task's Submission (xstilts.core.registry) names its file scorer here:
# ``scorer(task, pred_file, label_file, lang) -> {metric: fraction, count: int}``.
SCORERS: dict[str, Callable[[str, Path, Path, str], dict]] = {
    "labels": _score_labels,
    "jsonl_labels": _score_jsonl_labels,
    "tags": _score_tags,
    "bucc": _score_bucc,
    "squad": _qa_scorer(lambda d, p, lang: M.squad_evaluate(d, p)),
    # toy languages (qaa-qtz) get MLQA's whitespace rules without articles (metrics.mlqa_language)
    "mlqa": _qa_scorer(lambda d, p, lang: M.mlqa_evaluate(d, p, M.mlqa_language(lang))),
    "mewslix": _ranking_scorer("mewslix"),
    "lareqa": _ranking_scorer("lareqa"),
}


# --------------------------------------------------------------------------- per-example scores
# The same files read into the shapes a family's ``example_scores`` takes (preds, golds):
# label lines, tag sentences, ``{id: answer}`` + ``[(id, [gold answers])]``, pair lines, rankings.

def _read_label_pair(read: Callable[[Path], list]):
    def pair(task: str, pred: Path, label: Path) -> tuple[list, list]:
        preds, golds = read(pred), read(label)
        if len(preds) != len(golds):
            raise _count_mismatch(task, pred, label, len(preds), len(golds), "lines")
        return preds, golds
    return pair


def _read_tag_pair(task: str, pred: Path, label: Path) -> tuple[list, list]:
    preds, golds = _read_tag_sentences(pred), _read_tag_sentences(label)
    if len(preds) != len(golds):
        raise _count_mismatch(task, pred, label, len(preds), len(golds), "sentences")
    for i, ((p_line, p), (g_line, g)) in enumerate(zip(preds, golds), start=1):
        if len(p) != len(g):
            raise ScoreError(f"{task}: sentence {i} has {len(p)} tags in {pred} (from line "
                             f"{p_line}) but {len(g)} tags in {label} (from line {g_line})")
    return [p for _, p in preds], [g for _, g in golds]


def _read_qa_pair(task: str, pred: Path, label: Path) -> tuple[dict, list]:
    dataset, predictions = _read_json(label), _read_json(pred)
    if not isinstance(predictions, dict):
        raise ScoreError(f"{task}: {pred} must hold one JSON object {{question id: answer text}}")
    try:
        golds = [(qa["id"], [a["text"] for a in qa["answers"]])
                 for article in dataset for paragraph in article["paragraphs"] for qa in paragraph["qas"]]
    except (KeyError, TypeError) as e:
        raise ScoreError(f"{task}: {label} is not SQuAD-format JSON ({e!r})") from None
    return predictions, golds


def _read_ranking_pair(task: str, pred: Path, label: Path) -> tuple[dict, dict]:
    golds, preds = _read_json(label), _read_json(pred)
    for path, doc in ((label, golds), (pred, preds)):
        if not isinstance(doc, dict) or not all(isinstance(v, list) for v in doc.values()):
            raise ScoreError(f"{task}: {path} must hold one JSON object {{id: [ids...]}}")
    return preds, golds


READERS: dict[str, Callable[[str, Path, Path], tuple[Any, Any]]] = {
    "labels": _read_label_pair(_read_lines),
    "jsonl_labels": _read_label_pair(_read_jsonl_labels),
    "tags": _read_tag_pair,
    "bucc": lambda task, pred, label: (_read_lines(pred), _read_lines(label)),
    "squad": _read_qa_pair,
    "mlqa": _read_qa_pair,
    "mewslix": _read_ranking_pair,
    "lareqa": _read_ranking_pair,
}


def example_scores(task: str, pred_file: str | Path, label_file: str | Path, lang: str,
                   options: Mapping[str, Any] | None = None):
    """Per-example scores of one language of one task (fractions; the family decides what an
    example is and how its metric combines: :class:`xstilts.analysis.stats.ExampleScores`)."""
    from xstilts.core.registry import get_family

    spec = _spec(task)
    pred_file, label_file = Path(pred_file), Path(label_file)
    for path in (label_file, pred_file):
        if not path.is_file():
            raise FileNotFoundError(f"{task}: {path} is missing")
    preds, golds = READERS[spec.scorer](task, pred_file, label_file)
    if not golds:
        raise ScoreError(f"{task}: {label_file} holds no examples")
    t = REGISTRY[task]
    return get_family(t.family).example_scores(t, preds, golds, lang, **dict(options or {}))


def known_tasks() -> dict:
    """The registry tasks that have a submission format: name -> Task."""
    return {name: t for name, t in REGISTRY.items() if t.submission is not None}


GROUPS: dict[str, dict[str, list[str]]] = {
    "xtreme": {
        "classification": ["pawsx", "xnli"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["bucc2018", "tatoeba"],
    },
    "xtreme-r": {
        "classification": ["xnli", "xcopa"],
        "tagging": ["udpos", "panx"],
        "qa": ["xquad", "mlqa", "tydiqa"],
        "retrieval": ["tatoeba", "mewslix"],
        "multi_choice": ["xcopa"],
    },
}
# every task of a benchmark version (``all_task`` is reported when each was scored)
VERSION_TASKS = {
    "xtreme": ("pawsx", "xnli", "panx", "udpos", "bucc2018", "tatoeba", "xquad", "mlqa", "tydiqa"),
    "xtreme-r": ("xnli", "panx", "udpos", "tatoeba", "xcopa", "lareqa", "mewslix", "xquad", "mlqa", "tydiqa"),
}


def _spec(task: str):
    """The task's Submission."""
    known = known_tasks()
    if task not in known:
        raise UnknownTaskError(f"unknown task {task!r}; known tasks: "
                               f"{', '.join(sorted(known))}")
    return known[task].submission


# --------------------------------------------------------------------------- scoring
def _official_order(task: str) -> list[str]:
    return list(_spec(task).official)


def _task_files(folder: Path, task: str, ext: str) -> dict[str, Path]:
    """``{lang: path}`` for ``folder/test-<lang>.<ext>``; a ``test-*`` file with another
    extension is an error (it would otherwise go unscored)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        m = parse_submission(path.name)
        if not m or not path.is_file():
            continue
        lang, found_ext = m
        if found_ext != ext:
            raise ScoreError(f"{task}: {path} has extension .{found_ext}; task {task} expects "
                             f"test-<lang>.{ext}")
        found[lang] = path
    return found


def score_file(task: str, pred_file: str | Path, label_file: str | Path, lang: str) -> dict:
    """Score one language of one task: ``{metric: percentage, ..., "n": count}``."""
    spec = _spec(task)
    pred_file, label_file = Path(pred_file), Path(label_file)
    for path in (label_file, pred_file):
        if not path.is_file():
            raise FileNotFoundError(f"{task}: {path} is missing")
    raw = SCORERS[spec.scorer](task, pred_file, label_file, lang)
    return {k: (100.0 * v if k in spec.metrics else v) for k, v in raw.items()}


def score_predictions(pred_dir: str | Path, label_dir: str | Path,
                      tasks: Sequence[str] | None = None,
                      languages: Mapping[str, Iterable[str]] | Iterable[str] | None = None,
                      ) -> dict[str, dict]:
    """Score every language of every task; see the module docstring for the result.

    ``tasks``: task names (unknown names raise :class:`UnknownTaskError`; a named task
    without a folder on either side raises ``FileNotFoundError``). ``None``: every
    known task with a folder in both ``pred_dir`` and ``label_dir``; a known task
    folder present on one side only is left out with a note on stderr (a cell's predictions
    hold its one target, the labels every target), other folders are ignored.
    ``languages``: restrict to these languages (one list for all tasks, or per task);
    ``None``: every language that has a label file.
    """
    pred_dir, label_dir = Path(pred_dir), Path(label_dir)
    for d in (pred_dir, label_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"{d} is not a directory")
    if tasks is None:
        known = known_tasks()
        pred_tasks = {p.name for p in pred_dir.iterdir() if p.is_dir() and p.name in known}
        label_tasks = {p.name for p in label_dir.iterdir() if p.is_dir() and p.name in known}
        for task in sorted(pred_tasks ^ label_tasks):  # a cell's predictions hold one target
            side, other = (label_dir, pred_dir) if task in pred_tasks else (pred_dir, label_dir)
            print(f"xstilts score: note: {task} left out: {side / task} is missing "
                  f"(only {other / task} exists)", file=sys.stderr)
        tasks = sorted(pred_tasks & label_tasks)
        if not tasks:
            raise FileNotFoundError(f"no task folders in both {pred_dir} and {label_dir} "
                                    f"(known tasks: {', '.join(sorted(known))})")
    else:
        for task in tasks:
            _spec(task)

    results: dict[str, dict] = {}
    for task in tasks:
        spec = _spec(task)
        for d in (label_dir, pred_dir):
            if not (d / task).is_dir():
                raise FileNotFoundError(f"{task}: {d / task} is missing")
        label_files = _task_files(label_dir / task, task, spec.ext)
        pred_files = _task_files(pred_dir / task, task, spec.ext)
        if languages is None:
            wanted = set(label_files)
        elif isinstance(languages, Mapping):
            wanted = set(languages.get(task, label_files))
        else:
            wanted = set(languages)
        if languages is None:
            extra = sorted(set(pred_files) - set(label_files))
            if extra:
                raise ScoreError(f"{task}: {pred_files[extra[0]]} has no label file "
                                 f"{label_dir / task / pred_files[extra[0]].name}")
        if not wanted:
            raise FileNotFoundError(f"{task}: no test-<lang>.{spec.ext} label files in "
                                    f"{label_dir / task}")
        official = _official_order(task)
        ordered = [l for l in official if l in wanted] + sorted(wanted - set(official))
        per_lang: dict[str, dict] = {}
        for lang in ordered:
            per_lang[lang] = score_file(task, submission_file(pred_dir, task, lang, spec.ext),
                                        submission_file(label_dir, task, lang, spec.ext), lang)
        # the languages eval.json averages (XCOPA: not the English COPA reference)
        averaged = (known_tasks()[task].averaged_languages(ordered) if task in known_tasks()
                    else ordered) or ordered
        avg = {m: sum(per_lang[lang][m] for lang in averaged) / len(averaged) for m in spec.metrics}
        avg["metric"] = sum(avg[m] for m in spec.headline) / len(spec.headline)
        results[task] = {**per_lang, "avg": avg}
    return results


def group_scores(scores: Mapping[str, Mapping], version: str = "xtreme-r") -> dict[str, float]:
    """Group averages of ``avg["metric"]`` as evaluate.py: a group is reported when all its
    tasks were scored; ``all_task`` when every task of ``version`` was."""
    if version not in GROUPS:
        raise ValueError(f"unknown XTREME version {version!r}; use one of {sorted(GROUPS)}")
    out: dict[str, float] = {}
    all_tasks = set(VERSION_TASKS[version])
    if all_tasks <= set(scores):
        out["all_task"] = sum(scores[t]["avg"]["metric"] for t in all_tasks) / len(all_tasks)
    for group, members in GROUPS[version].items():
        if set(members) <= set(scores):
            out[group] = sum(scores[t]["avg"]["metric"] for t in members) / len(members)
    return out


def format_scores(scores: Mapping[str, Mapping], groups: Mapping[str, float] | None = None) -> str:
    """Text in the layout evaluate.py prints: per task and metric the languages and their
    scores (``%.2f``), then ``<metric>: <average>`` lines and ``metric: <headline>``."""
    lines: list[str] = []
    for task, result in scores.items():
        spec = known_tasks()[task].submission if task in known_tasks() else None
        langs = [k for k in result if k != "avg"]
        metric_names = list(spec.metrics) if spec else [m for m in result["avg"] if m != "metric"]
        lines.append("")
        lines.append(f"====== {task} ======")
        for m in metric_names:
            lines.append(f"------ {m} ------")
            lines.append(", ".join(langs))
            lines.append(", ".join("%.2f" % result[lang][m] for lang in langs))
        for m in metric_names + ["metric"]:
            lines.append("%s: %.2f" % (m, result["avg"][m]))
    if groups:
        lines.append("")
        lines.append("====== groups ======")
        for g, v in groups.items():
            lines.append("%s: %.2f" % (g, v))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``xstilts score --predictions DIR --labels DIR [--tasks xnli,pawsx] [--json OUT]``."""
    parser = argparse.ArgumentParser(
        prog="xstilts score",
        description="Score predictions in the XTREME submission layout "
                    "(<dir>/<task>/test-<lang>.<ext>) like google-research/xtreme evaluate.py.")
    parser.add_argument("--predictions", required=True, help="predictions folder")
    parser.add_argument("--labels", required=True, help="gold labels folder")
    parser.add_argument("--tasks", default=None,
                        help="comma-separated tasks (default: every known task found in both "
                             "folders; a task in one folder only is left out with a note)")
    parser.add_argument("--languages", default=None,
                        help="comma-separated languages to score (default: all label files)")
    parser.add_argument("--xtreme-version", default="xtreme-r", choices=sorted(GROUPS),
                        help="which benchmark's task groups to average (default: xtreme-r)")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="also write {'tasks': scores, 'groups': group scores} as JSON")
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    langs = [l.strip() for l in args.languages.split(",") if l.strip()] if args.languages else None
    try:
        scores = score_predictions(args.predictions, args.labels, tasks=tasks, languages=langs)
    except (OSError, ValueError) as e:
        print(f"xstilts score: error: {e}", file=sys.stderr)
        return 2
    groups = group_scores(scores, args.xtreme_version)
    sys.stdout.write(format_scores(scores, groups))
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"xtreme_version": args.xtreme_version, "tasks": scores,
                                   "groups": groups}, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
