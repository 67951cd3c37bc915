"""Categorisation on GermEval 2017 (real German customer feedback about Deutsche Bahn, coarse aspects).

Relevant documents with exactly one coarse category; 5-fold cross-validation where Kontor's categoriser is
taught from 4/5 as labelled examples and tested on the rest. References measured in the same run on the same
folds: the majority class, and TF-IDF (word 1–2-grams + character 2–5-grams) with a linear SVM.

Also: macro-F1 by number of examples (plot), latency, refit time, confidence calibration, and — on a sample —
whether the embedded language model helps when the classifier is unsure or when there are no examples.

Usage: .venv/bin/python bench/categorise_germeval.py [--model-sample N] [--no-plot]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.categorise.categories import CategorySet, load_categories  # noqa: E402
from assistant.categorise.categoriser import CategorisePolicy, Categoriser, FixedExamples  # noqa: E402
from assistant.categorise.classifier import DescriptionMatcher, ExampleClassifier  # noqa: E402
from assistant.config import PROJECT_ROOT, Settings  # noqa: E402
from bench.common import append_results, table  # noqa: E402

DEV = PROJECT_ROOT.parent / "shared" / "data" / "germeval2017" / "dev.xml"
CATEGORIES = Path(__file__).resolve().parent / "data" / "germeval_categories.yaml"
PLOT = Path(__file__).resolve().parent / "categorise_learning_curve.png"
SIZES = [100, 300, 1000]
COMPANY = {"name": "die Deutsche Bahn"}

warnings.filterwarnings("ignore", message="The least populated class")


def load() -> tuple[np.ndarray, np.ndarray]:
    texts, labels = [], []
    for doc in ET.parse(DEV).getroot().iter("Document"):
        if doc.findtext("relevance") != "true":
            continue
        coarse = {o.get("category", "").split("#")[0] for o in doc.iter("Opinion")}
        if len(coarse) == 1:
            texts.append(doc.findtext("text") or "")
            labels.append(coarse.pop())
    return np.array(texts, dtype=object), np.array(labels, dtype=object)


def folds(labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    return list(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(labels)), labels))


def subsample(train: np.ndarray, labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """n training indices drawn at random (what a company has after n corrections), all when n is None."""
    if n is None or n >= len(train):
        return train
    return np.random.default_rng(seed).choice(train, size=n, replace=False)


def reference_svm(texts: np.ndarray, labels: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    model = make_pipeline(features, LinearSVC()).fit(list(texts[train]), list(labels[train]))
    return np.asarray(model.predict(list(texts[test])), dtype=object)


def categoriser(categories: CategorySet, pairs: list[tuple[str, str]], **policy: float) -> Categoriser:
    return Categoriser(categories, FixedExamples(tuple(pairs)), None, None, COMPANY, CategorisePolicy(**policy))


def scores(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return float(accuracy_score(y, p)), float(f1_score(y, p, average="macro", zero_division=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-sample", type=int, default=60, help="texts per language-model experiment")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    texts, labels = load()
    categories = load_categories(CATEGORIES)
    split = folds(labels)
    print(f"{len(texts)} documents, {len(set(labels))} coarse categories: {Counter(labels).most_common(4)} …")

    # main run: all examples of 4/5, through the real Categoriser (classifier path, no model)
    kontor = np.empty(len(labels), dtype=object)
    svm = np.empty(len(labels), dtype=object)
    majority = np.empty(len(labels), dtype=object)
    confidences = np.zeros(len(labels))
    latencies: list[float] = []
    refits: list[float] = []
    for number, (train, test) in enumerate(split):
        pairs = list(zip(texts[train], labels[train], strict=True))
        engine = categoriser(categories, pairs)
        started = time.perf_counter()
        engine.fitted()
        refits.append(time.perf_counter() - started)
        for i in test:
            started = time.perf_counter()
            result = engine.categorise(texts[i], use_model=False)
            latencies.append((time.perf_counter() - started) * 1000)
            kontor[i], confidences[i] = result.category, result.confidence
        svm[test] = reference_svm(texts, labels, train, test)
        majority[test] = Counter(labels[train]).most_common(1)[0][0]
        print(f"fold {number + 1}/5 done", flush=True)

    rows = []
    for name, predicted in [("majority class", majority), ("TF-IDF + linear SVM", svm), ("Kontor", kontor)]:
        acc, f1 = scores(labels, predicted)
        rows.append([name, f"{acc:.3f}", f"{f1:.3f}"])
    acc_ref, f1_ref = scores(labels, svm)
    acc_k, f1_k = scores(labels, kontor)
    rows.append(["Kontor − SVM", f"{acc_k - acc_ref:+.3f}", f"{f1_k - f1_ref:+.3f}"])
    main_table = table(["5-fold, all examples of 4/5", "accuracy", "macro-F1"], rows)

    ablation = ablation_table(texts, labels, categories, split)
    curve_rows, curve = learning_curve(texts, labels, categories, split)
    curve_table = table(["examples", "Kontor macro-F1", "SVM macro-F1", "Kontor acc.", "SVM acc."], curve_rows)
    if not args.no_plot:
        plot(curve)
    latency_table = table(
        ["measure", "value"],
        [
            ["categorise p50 (classifier decides)", f"{np.percentile(latencies, 50):.1f} ms"],
            ["categorise p95 (classifier decides)", f"{np.percentile(latencies, 95):.1f} ms"],
            [f"refit on {len(split[0][0])} examples (first call after a change)", f"{statistics.median(refits):.2f} s"],
        ],
    )
    calibration = calibration_table(labels, kontor, confidences)
    model_table = model_experiments(texts, labels, categories, split, args.model_sample)

    body = "\n\n".join([
        f"{len(texts)} relevant documents with one coarse category, {len(set(labels))} categories.",
        main_table, "Description weight (how much the categories file counts beside the classifier):", ablation,
        "macro-F1 by number of labelled examples (random subsets of each training fold):", curve_table,
        f"![learning curve]({PLOT.name})" if not args.no_plot else "", latency_table,
        "Confidence calibration (classifier path):", calibration,
        "The embedded language model (SmolLM2-135M) on samples:", model_table,
    ])
    print(body)
    append_results("Categorisation on GermEval 2017 (5-fold)", "make bench (bench/categorise_germeval.py)", body)


def ablation_table(texts: np.ndarray, labels: np.ndarray, categories: CategorySet, split: list) -> str:  # type: ignore[type-arg]
    """Classifier margins + w × description similarity for several w, fitted once per fold."""
    weights = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    predicted = {w: np.empty(len(labels), dtype=object) for w in weights}
    ids = categories.ids
    for train, test in split:
        classifier = ExampleClassifier(list(texts[train]), list(labels[train]))
        matcher = DescriptionMatcher([c.profile for c in categories.categories], list(texts[train]))
        margins = np.full((len(test), len(ids)), -1.0)
        decision = classifier.decision(list(texts[test]))
        for column, category in enumerate(classifier.classes):
            margins[:, ids.index(category)] = decision[:, column]
        similarity = matcher.similarity(list(texts[test]))
        for w in weights:
            predicted[w][test] = np.array(ids, dtype=object)[(margins + w * similarity).argmax(axis=1)]
    rows = []
    for w in weights:
        acc, f1 = scores(labels, predicted[w])
        rows.append([f"{w:g}" + (" (default)" if w == CategorisePolicy().description_weight else ""),
                     f"{acc:.3f}", f"{f1:.3f}"])
    return table(["description weight", "accuracy", "macro-F1"], rows)


def learning_curve(texts: np.ndarray, labels: np.ndarray, categories: CategorySet, split: list):  # type: ignore[no-untyped-def,type-arg]
    rows, curve = [], []
    for n in [*SIZES, None]:
        kontor = np.empty(len(labels), dtype=object)
        svm = np.empty(len(labels), dtype=object)
        used = []
        for number, (train, test) in enumerate(split):
            chosen = subsample(train, labels, n, seed=number)
            used.append(len(chosen))
            pairs = list(zip(texts[chosen], labels[chosen], strict=True))
            engine = categoriser(categories, pairs)
            kontor[test] = [engine.categorise(texts[i], use_model=False).category for i in test]
            svm[test] = reference_svm(texts, labels, chosen, test)
        (acc_k, f1_k), (acc_s, f1_s) = scores(labels, kontor), scores(labels, svm)
        label = str(n) if n else f"all ({int(np.mean(used))})"
        rows.append([label, f"{f1_k:.3f}", f"{f1_s:.3f}", f"{acc_k:.3f}", f"{acc_s:.3f}"])
        curve.append((int(np.mean(used)), f1_k, f1_s))
        print(f"learning curve {label} done", flush=True)
    return rows, curve


def plot(curve: list[tuple[int, float, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [c[0] for c in curve]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=120)
    ax.plot(sizes, [c[1] for c in curve], "o-", label="Kontor (Beispiele + Beschreibungen)")
    ax.plot(sizes, [c[2] for c in curve], "s--", label="TF-IDF + lineare SVM")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("gelabelte Beispiele")
    ax.set_ylabel("Makro-F1")
    ax.set_title("GermEval 2017: Makro-F1 nach Zahl der Beispiele")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOT)
    plt.close(fig)


def calibration_table(labels: np.ndarray, predicted: np.ndarray, confidences: np.ndarray) -> str:
    rows = []
    for low, high in [(0.0, 0.5), (0.5, 0.8), (0.8, 1.01)]:
        mask = (confidences >= low) & (confidences < high)
        if mask.any():
            accuracy = float(np.mean(labels[mask] == predicted[mask]))
            rows.append([f"{low:.1f}–{min(high, 1.0):.1f}", f"{mask.mean():.1%}", f"{accuracy:.3f}"])
    return table(["confidence", "share of texts", "accuracy"], rows)


def model_experiments(texts: np.ndarray, labels: np.ndarray, categories: CategorySet, split: list, n: int) -> str:  # type: ignore[type-arg]
    """Fold 1 only, up to n texts each: (a) the classifier is unsure, (b) there are no examples at all.
    The model is asked once per text; its pick is then tried with several score bonuses (0 = not asked)."""
    from assistant.llm import make_llm
    from assistant.prompts import PromptLibrary

    settings = Settings()
    llm = make_llm(settings)
    prompt = PromptLibrary(settings.prompts_dir).resolve("categorise", "production")
    train, test = split[0]
    pairs = list(zip(texts[train], labels[train], strict=True))
    taught = Categoriser(categories, FixedExamples(tuple(pairs)), lambda: llm, prompt, COMPANY)
    unsure = [i for i in test if taught.categorise(texts[i], use_model=False).confidence < 0.5][:n]
    untaught = Categoriser(categories, FixedExamples(), lambda: llm, prompt, COMPANY)
    bonuses = [0.0, 0.1, 0.3, 1.0]
    rows = []
    for name, engine, items in [("unsure classifier", taught, unsure), ("no examples", untaught, list(test[:n]))]:
        correct = {b: 0 for b in bonuses}
        model_ms = []
        for i in items:
            scores = engine.scores(texts[i])
            started = time.perf_counter()
            choice, _ = engine.model_choice(texts[i], scores)
            model_ms.append((time.perf_counter() - started) * 1000)
            for bonus in bonuses:
                boosted = scores.copy()
                if choice is not None:
                    boosted[choice] += bonus
                correct[bonus] += categories.ids[int(np.argmax(boosted))] == labels[i]
        rows.append([name, str(len(items)), *[f"{correct[b] / len(items):.3f}" for b in bonuses],
                     f"{np.percentile(model_ms, 50):.0f} ms"])
        print(f"model experiment '{name}' done", flush=True)
    header = ["situation", "texts", "without model", "bonus 0.1 (default)", "bonus 0.3", "bonus 1.0 (model decides)",
              "model call p50"]
    return table(header, rows)


if __name__ == "__main__":
    main()
