"""The fast path: the only code that relies on private or undocumented internals of
graphql-core, Strawberry, SQLAlchemy or asyncpg.

Switched on by EXECUTION_FAST_PATH (default true); with it off, the API runs on the
libraries' documented extension points only, and answers byte for byte the same
(tests/test_fast_path_equivalence.py). Each piece can be left off on its own with
FAST_PATH_OFF (comma-separated names), which is how bench/graphql.py shows what each
buys. A piece stays only while the bench shows it buying at least 10% on some scenario.

Each module names the private names it uses. Checked against strawberry-graphql 0.341.2
and graphql-core 3.3.2, which pyproject.toml pins exactly (`make test-latest` runs the
suite on their newest releases), and SQLAlchemy 2.1 and asyncpg 0.32, which the lock
files pin.

This package's `__init__` imports nothing from the libraries: settings validate piece
names against it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# Each piece, and where it lives.
PIECES = {
    "plans": "plans.py: compiled completion of selections made only of plain fields",
    "leaves": "executor.py: plain attribute fields completed without a resolver call",
    "shared": "executor.py: one answer per subscription event shared by its subscribers",
    "runner": "runner.py: subscription results given their error codes without per-event hooks",
    "posted": "posted.py: a JSON POST the guard decoded executed without Strawberry's run()",
    "selection": "selection.py: selections read from graphql-core's nodes, per document",
    "reads": "reads.py: reused statements sent straight to asyncpg",
}


@dataclass(frozen=True, slots=True)
class FastPath:
    """Which pieces are on."""

    plans: bool = True
    leaves: bool = True
    shared: bool = True
    runner: bool = True
    posted: bool = True
    selection: bool = True
    reads: bool = True

    @classmethod
    def of(cls, enabled: bool, off: frozenset[str] = frozenset()) -> FastPath:
        return cls(**{piece.name: enabled and piece.name not in off for piece in fields(cls)})

    @property
    def executor(self) -> bool:
        """Whether execution needs the fast executor class at all."""
        return self.plans or self.leaves or self.shared


ON = FastPath()
OFF = FastPath.of(False)
