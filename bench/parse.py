"""Parse time per utterance over the test corpus: median and p99 in microseconds."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from bot.commands import parse_command

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "utterances.yaml"


def _texts() -> list[str]:
    with CORPUS.open(encoding="utf-8") as f:
        entries: list[dict[str, Any]] = yaml.safe_load(f)
    texts: list[str] = []
    for entry in entries:
        if "text_repeat" in entry:
            texts.append(str(entry["text_repeat"]["unit"]) * int(entry["text_repeat"]["times"]))
        else:
            texts.append(str(entry["text"]))
    return texts


def run(repetitions: int = 200) -> dict[str, float]:
    """Time parse_command on every corpus utterance `repetitions` times; return median and p99 in microseconds."""
    texts = _texts()
    for text in texts:  # warm up regex caches and imports
        parse_command(text)
    samples: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(repetitions):
        for text in texts:
            start = clock()
            parse_command(text)
            samples.append((clock() - start) / 1000)
    samples.sort()
    return {
        "parse_median_us": statistics.median(samples),
        "parse_p99_us": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:.1f}")
