"""One self-contained HTML page from a :class:`~kwslab.report.data.ReportData`.

Every image is a base64 ``data:`` URI and the CSS is inline, so the file opens offline and can
be mailed or archived on its own. Sections appear only when their data exists.
"""

from __future__ import annotations

import base64
import html
import json
import time
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from kwslab.report import figures
from kwslab.report.data import (
    DatasetData,
    ExportData,
    ReportData,
    RunData,
    SearchData,
    StreamData,
    dumps,
)

SPLITS = ("train", "validation", "test")
SEARCH_SECTIONS = (  # image kind -> heading, in reading order
    ("history", "Optimisation history"),
    ("importance", "Parameter importances"),
    ("manual", "Per-parameter curves (manual method)"),
    ("lr_find", "Learning-rate finder"),
    ("other", "Other figures"),
)


def render(report: ReportData) -> str:
    """The report page as an HTML string."""
    from kwslab import __version__

    sections: list[tuple[str, str, str]] = []  # (anchor, nav label, html)
    if report.demo:
        sections.append(("demo", "Demo", _demo(report.demo)))
    if len(report.runs) > 1:
        sections.append(("runs", "Runs", _runs_table(report)))
    for i, ds in enumerate(report.datasets):
        sections.append((f"data-{i}", "Dataset", _dataset(ds, len(report.datasets) > 1)))
    for i, run in enumerate(report.runs):
        label = "Model" if len(report.runs) == 1 else f"Run {run.name}"
        sections.append((f"run-{i}", label, _run(run, len(report.runs) > 1)))
    for i, s in enumerate(report.searches):
        sections.append((f"search-{i}", "Search" if len(report.searches) == 1 else
                         f"Search {s.name}", _search(s)))
    for i, x in enumerate(report.exports):
        sections.append((f"export-{i}", "ONNX", _export(x)))
    for i, st in enumerate(report.streams):
        sections.append((f"stream-{i}", "Streaming", _stream(st)))
    body = ""
    if report.notes:
        body += '<div class="notes"><b>Notes</b><ul>' + "".join(
            f"<li>{_e(n)}</li>" for n in report.notes) + "</ul></div>\n"
    body += "\n".join(f'<section class="card" id="{a}">{h}</section>' for a, _, h in sections)
    nav = "".join(f'<a href="#{a}">{_e(label)}</a>' for a, label, _ in sections)
    subtitle = (f"{_e(str(report.root))} · generated {time.strftime('%Y-%m-%d %H:%M')}")
    page = Template(resources.files("kwslab.report").joinpath("template.html").read_text())
    return page.substitute(title=_e(report.title), subtitle=subtitle, stats=_stats(report),
                           nav=nav, body=body, version=_e(__version__))


# --- pieces ---------------------------------------------------------------------------------

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(png: bytes, alt: str, caption: str = "", width: int | None = None) -> str:
    data = base64.b64encode(png).decode("ascii")
    style = f' style="max-width:{width}px"' if width else ""
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}"{style}>{cap}</figure>'


def _img_file(path: Path, alt: str, caption: str = "") -> str:
    return _img(path.read_bytes(), alt, caption, 760)


def fmt(v: Any) -> str:
    """A table cell: integers with separators, floats to 4 significant digits."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v).lower()
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v and abs(v) < 1e-3:
            return f"{v:.2e}"
        return f"{v:.4f}" if abs(v) < 1 and v != 0 else f"{v:.4g}"
    if isinstance(v, list | dict):
        text = dumps(v)
        return text if len(text) <= 80 else text[:77] + "..."
    return str(v)


def si(n: float | int | None) -> str:
    """1234567 -> '1.23 M'."""
    if n is None:
        return "-"
    for div, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:g}"


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _num_str(v: str) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def table(columns: list[str], rows: list[list[Any]], *, total: list[Any] | None = None) -> str:
    """An HTML table; numeric columns are right-aligned."""
    numeric = [all(_is_num(r[i]) or _num_str(r[i]) or r[i] in ("", None) for r in rows)
               for i in range(len(columns))]
    head = "".join(f'<th class="{"n" if numeric[i] else ""}">{_e(c)}</th>'
                   for i, c in enumerate(columns))

    def line(r: list[Any], cls: str = "") -> str:
        cells = "".join(f'<td class="{"n" if numeric[i] else ""}">{_e(fmt(v))}</td>'
                        for i, v in enumerate(r))
        return f'<tr class="{cls}">{cells}</tr>'

    body = "".join(line(r) for r in rows) + (line(total, "total") if total else "")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def _kv(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _stats(report: ReportData) -> str:
    run = report.best_run
    cards: list[tuple[str, str, str]] = []
    if run is not None:
        if run.evaluation:
            lo, hi = run.evaluation.get("accuracy_ci95", (None, None))
            ci = f"95 % CI {lo:.1%}–{hi:.1%}" if lo is not None else ""
            cards.append(("test accuracy", f"{run.evaluation['accuracy']:.1%}",
                          f"{ci} · n={run.evaluation.get('n', '?')}"))
        if run.metrics.get("val_accuracy") is not None:
            cards.append(("validation accuracy", f"{run.metrics['val_accuracy']:.1%}",
                          f"epoch {run.metrics.get('best_epoch', '?')}"))
        card = run.card or {}
        family = card.get("family") or run.config.get("model", {}).get("name", "?")
        cards.append(("model", _e(family), f"{len(run.labels)} classes"))
        if card.get("params") is not None:
            cards.append(("parameters", si(card["params"]), f"{card['params']:,}"))
        if card.get("total_macs") is not None:
            cards.append(("MACs / inference", si(card["total_macs"]),
                          f"{si(card['macs'])} head + {si(card['front_end']['macs'])} front end"))
        elif card.get("macs") is not None:
            cards.append(("MACs / inference", si(card["macs"]), "multiply-accumulates"))
        if card.get("size_bytes") is not None:
            cards.append(("weights", f"{card['size_bytes'] / 1024:,.0f} KiB", "safetensors"))
    if report.demo and report.demo.get("seconds") is not None:
        cards.append(("demo wall time", f"{report.demo['seconds']:.0f} s", "before this report"))
    if not cards:
        return ""
    return '<div class="stats">' + "".join(
        f'<div class="stat"><div class="k">{k}</div><div class="v">{v}</div>'
        f'<div class="d">{_e(d)}</div></div>' for k, v, d in cards) + "</div>"


def _demo(demo: dict[str, Any]) -> str:
    steps = demo.get("steps", {})
    rows = [[name, s.get("status", ""), f"{s.get('seconds') or 0:.1f}", s.get("detail", "")]
            for name, s in steps.items()]
    out = "<h2>Demo</h2>"
    if all(demo.get(k) for k in ("real", "test", "recipe")):  # real voices first
        from kwslab.pipelines.demo import figure_lines

        out += "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in figure_lines(demo)) + "</ul>"
    out += '<p class="lead">What <code>kwslab demo</code> did, step by step.</p>'
    return out + table(["step", "status", "seconds", "detail"], rows)


def _runs_table(report: ReportData) -> str:
    rows = []
    for r in report.runs:
        card = r.card or {}
        rows.append([r.name, card.get("family") or r.config.get("model", {}).get("name", ""),
                     r.metrics.get("val_accuracy"),
                     r.evaluation["accuracy"] if r.evaluation else None,
                     card.get("params"), card.get("macs"), r.metrics.get("epochs_run"),
                     r.metrics.get("seconds")])
    return "<h2>Runs</h2>" + table(["run", "model", "val acc", "test acc", "params", "MACs",
                                    "epochs", "seconds"], rows)


def _dataset(ds: DatasetData, named: bool) -> str:
    out = "<h2>Dataset" + (f' <span class="pill">{_e(ds.path)}</span>' if named else "")
    out += f'</h2><p class="lead">{_e(ds.path)}</p><h3>Clips per word and split</h3>'
    rows: list[list[Any]] = [[label, *(c.get(s, 0) for s in SPLITS),
                              sum(c.get(s, 0) for s in SPLITS)] for label, c in ds.counts.items()]
    total = ["total", *(sum(r[i] for r in rows) for i in range(1, 5))]
    out += '<div class="narrow">' + table(["word", *SPLITS, "total"], rows, total=total) + "</div>"
    if ds.examples:
        kind = _e(ds.examples[0].feature_kind)
        what = "features (96 values every 80 ms)" if kind == "speech-embedding" else "spectrogram"
        out += f"<h3>Example waveform and {kind} {what} per word</h3>"
        out += '<div class="grid">' + "".join(
            _img(figures.example(ex), f"{ex.label} example", Path(ex.path).name)
            for ex in ds.examples) + "</div>"
    return out


def _run(run: RunData, named: bool) -> str:
    out = f"<h2>{'Run ' + _e(run.name) if named else 'Model'}"
    out += f' <span class="pill">{_e((run.card or {}).get("family", ""))}</span></h2>'
    m = run.metrics
    out += (f'<p class="lead">{_e(run.path)} · {m.get("epochs_run", "?")} epochs in '
            f'{m.get("seconds", 0):.0f} s · {fmt(m.get("n_train"))} training clips</p>')
    if m.get("history"):
        out += "<h3>Training curves</h3>"
        out += _img(figures.training_curves(m["history"], m.get("best_epoch")), "training curves",
                    "Loss and accuracy per epoch; the dotted line marks the epoch kept.")
    ev = run.evaluation
    if ev:
        lo, hi = ev.get("accuracy_ci95", (0, 0))
        out += (f"<h3>Test evaluation</h3><p class=\"lead\">accuracy {ev['accuracy']:.2%} "
                f"(95 % CI {lo:.1%}–{hi:.1%}), loss {ev.get('loss', 0):.3f}, "
                f"n={ev.get('n')}</p>")
        out += '<div class="split">'
        out += "<div>" + "<h3>Confusion matrix</h3>" + _img(
            figures.confusion(ev["confusion"], ev["labels"]), "confusion matrix",
            "Rows: true word; columns: prediction; colour: share of the row.", 520) + "</div>"
        out += '<div class="side"><h3>Per-class precision and recall</h3>' + _per_class(ev)
        out += "</div></div>"
        out += _speakers(ev) + _mistakes(ev)
    elif run.note:
        out += f'<p class="lead">{_e(run.note)}</p>'
    if run.card:
        out += "<h3>Model card</h3>" + _card(run)
    out += ("<details><summary>Full configuration</summary><pre>"
            + _e(json.dumps(run.config, indent=2)) + "</pre></details>")
    return out


def _bar(v: float) -> str:
    cls = "bar low" if v < 0.5 else "bar"
    return (f'<td class="n {cls}"><span class="fill" style="width:{max(v, 0) * 100:.0f}%">'
            f'</span><span class="val">{v:.3f}</span></td>')


def _per_class(ev: dict[str, Any]) -> str:
    head = "".join(f'<th class="{c}">{t}</th>' for c, t in (
        ("", "word"), ("n", "precision"), ("n", "recall"), ("n", "F1"), ("n", "support")))
    rows = ""
    for label in ev["labels"]:
        pc = ev["per_class"][label]
        rows += (f"<tr><td>{_e(label)}</td>{_bar(pc['precision'])}{_bar(pc['recall'])}"
                 f"{_bar(pc['f1'])}<td class=\"n\">{pc['support']:,}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _speakers(ev: dict[str, Any]) -> str:
    """Speakers sorted by accuracy (keyword clips): errors gather on a few voices."""
    per = ev.get("per_speaker") or {}
    worst = sorted(((c / n, s, c, n) for s, (c, n) in per.items() if c < n))[:12]
    if not worst:
        return ""
    rows = "".join(f"<tr><td>{_e(s)}</td>{_bar(acc)}<td class=\"n\">{c}/{n}</td></tr>"
                   for acc, s, c, n in worst)
    return (f"<h3>Speakers with errors</h3><p class=\"lead\">{len(worst)} of {len(per)} "
            "speakers have at least one keyword clip wrong; the worst first.</p><table><thead>"
            "<tr><th>speaker</th><th class=\"n\">accuracy</th><th class=\"n\">right</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")


def _mistakes(ev: dict[str, Any], limit: int = 10, max_bytes: int = 200_000) -> str:
    """The most confident mistakes, each with a player (the clip embedded) to listen to."""
    import base64

    rows = ""
    for e in (ev.get("confused") or [])[:limit]:
        path = Path(e["path"])
        player = ""
        if path.suffix.lower() == ".wav" and path.is_file() and path.stat().st_size < max_bytes:
            data = base64.b64encode(path.read_bytes()).decode()
            player = f'<audio controls preload="none" src="data:audio/wav;base64,{data}"></audio>'
        rows += (f"<tr><td>{_e(path.parent.name)}/{_e(path.name)}</td><td>{_e(e['label'])}</td>"
                 f"<td>{_e(e['predicted'])}</td><td class=\"n\">{e['probability']:.2f}</td>"
                 f"<td>{player}</td></tr>")
    if not rows:
        return ""
    return ("<h3>Most confident mistakes</h3><table><thead><tr><th>clip</th><th>true</th>"
            "<th>predicted</th><th class=\"n\">p</th><th>listen</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _card(run: RunData) -> str:
    card = dict(run.card or {})
    items = []
    for key, label, show in (
        ("family", "family", str), ("params", "parameters", lambda v: f"{v:,} ({si(v)})"),
        ("macs", "MACs per inference (trained model)", lambda v: f"{v:,} ({si(v)})"),
        ("total_macs", "MACs per inference with the front end", lambda v: f"{v:,} ({si(v)})"),
        ("size_bytes", "weights on disk", lambda v: f"{v:,} bytes ({v / 1024:,.1f} KiB)"),
        ("input_shape", "input shape", lambda v: " × ".join(map(str, v))),
    ):
        if card.get(key) is not None:
            items.append((label, show(card.pop(key))))
    feats = card.pop("features", None)
    items += [(k.replace("_", " "), fmt(v)) for k, v in card.items()]
    items.append(("classes", ", ".join(run.labels)))
    if feats:
        items.append(("features", ", ".join(f"{k}={dumps(v)}" for k, v in feats.items())))
    return _kv(items)


def comparison_table(comparison: Any) -> str:
    """A table from comparison.json: a list of rows, a dict of rows, or rows under a key."""
    rows_src: Any = comparison
    extra: list[tuple[str, Any]] = []
    if isinstance(comparison, dict):
        lists = [k for k, v in comparison.items()
                 if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if lists:
            rows_src = comparison[lists[0]]
            extra = [(k, v) for k, v in comparison.items() if k != lists[0]]
        elif comparison and all(isinstance(v, dict) for v in comparison.values()):
            rows_src = [{"name": k, **v} for k, v in comparison.items()]
        else:
            return _kv([(k, fmt(v)) for k, v in comparison.items()])
    if not isinstance(rows_src, list) or not rows_src:
        return f"<pre>{_e(json.dumps(comparison, indent=2))}</pre>"
    columns = list(dict.fromkeys(k for r in rows_src for k in r))
    out = table(columns, [[r.get(c) for c in columns] for r in rows_src])
    if extra:
        out += _kv([(k, fmt(v)) for k, v in extra])
    return out


def _search(s: SearchData) -> str:
    out = f'<h2>Search <span class="pill">{_e(s.name)}</span></h2>'
    out += f'<p class="lead">{_e(s.path)}</p>'
    plots = [i for i in s.images if i.kind == "comparison"]
    if s.comparison is not None or plots:
        out += "<h3>Comparison</h3>"
        out += comparison_table(s.comparison) if s.comparison is not None else ""
        out += "".join(_img_file(i.path, i.title, i.path.name) for i in plots)
    for kind, heading in SEARCH_SECTIONS:
        imgs = [i for i in s.images if i.kind == kind]
        if imgs:
            cls = "grid2" if len(imgs) > 1 else ""
            out += f"<h3>{heading}</h3><div class=\"{cls}\">" + "".join(
                _img_file(i.path, i.title, i.path.name) for i in imgs) + "</div>"
    if s.trials:
        columns = list(s.trials[0])
        shown = f"first {len(s.trials)} of {s.n_trials}" if s.n_trials > len(s.trials) else \
            f"{s.n_trials}"
        out += (f"<details><summary>Trials ({shown}, from trials.csv)</summary>"
                + table(columns, [[r.get(c, "") for c in columns] for r in s.trials])
                + "</details>")
    return out


def _stream(s: StreamData) -> str:
    out = f'<h2>Streaming <span class="pill">{_e(s.name)}</span></h2>'
    result = s.det or {}
    stream, op = result.get("stream", {}), result.get("operating_point", {})
    if stream:
        out += (f'<p class="lead">{stream.get("keyword_clips", "?")} keywords in '
                f'{stream.get("duration_s", 0) / 60:.1f} min of noise at SNR '
                f'{fmt(stream.get("snr_db"))} dB</p>')
    out += "<h3>DET curve</h3>"
    if s.images:
        out += "".join(_img_file(i.path, "DET curve", i.path.name) for i in s.images)
    elif (png := figures.det_curve(result)) is not None:
        out += _img(png, "DET curve", "Miss rate against false accepts per hour, one point per "
                    "detection threshold.", 620)
    if op:
        keys = ("threshold", "hit_rate", "miss_rate", "fa_per_hour", "hits", "misses",
                "false_accepts")
        out += "<h3>Operating point</h3>" + _kv([(k.replace("_", " "), fmt(op[k]))
                                                for k in keys if k in op])
    return out


def _export(x: ExportData) -> str:
    out = f'<h2>ONNX export <span class="pill">{_e(x.name)}</span></h2>'
    out += f'<p class="lead">{_e(x.path)}</p>'
    items = [(f, f"{n:,} bytes ({n / 1024:,.1f} KiB)") for f, n in x.sizes.items()]
    for key, label in (("opset", "opset"), ("int8_mode", "int8 quantisation"),
                       ("parity_max_abs_diff", "max |torch - onnx| probability")):
        if x.config.get(key) is not None:
            items.append((label, fmt(x.config[key])))
    m = x.metrics or {}
    for key, label in (("torch_accuracy", "torch"), ("fp32", "ONNX fp32"), ("int8", "ONNX int8")):
        value = m.get(key)
        acc = value.get("accuracy") if isinstance(value, dict) else value
        if acc is not None:
            items.append((f"{m.get('split', 'test')} accuracy, {label}",
                          f"{acc:.2%} (n={m.get('n', '?')})"))
    return out + _kv(items)
