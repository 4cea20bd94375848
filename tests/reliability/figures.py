"""Figures the reliability tests measure (recovery and rejection times, counts), printed at the end
of the run so that `make test-reliability` shows them next to the pass/fail lines."""

FIGURES: list[tuple[str, str, str]] = []


def record(item: str, what: str, figure: str) -> None:
    FIGURES.append((item, what, figure))
