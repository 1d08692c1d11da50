"""Run every ``tests/bench/bench_*.py`` (or those whose name contains an argument) and print their tables."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tests.bench import PRODUCTION_LIKE_ENV

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def setup_django() -> None:
    """An embedded portal on a throwaway SQLite file, for benchmarks that call services in-process."""
    data = tempfile.mkdtemp(prefix="budportal-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "budportal.settings")
    os.environ.setdefault("BUDPORTAL_DATA_DIR", data)
    os.environ.setdefault("SQLITE_PATH", os.path.join(data, "bench.sqlite3"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Measured as in production: DEBUG off (no per-query logging).
    os.environ.update(PRODUCTION_LIKE_ENV)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    setup_django()
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    selected = [n for n in names if not argv or any(a in n for a in argv)]
    failed = 0
    for name in selected:
        print(f"\n## {name}\n", flush=True)
        started = time.perf_counter()
        try:
            tables = importlib.import_module(f"tests.bench.{name}").run()
        except Exception:
            traceback.print_exc()
            failed += 1
            continue
        for table in tables or []:
            print(table.render() + "\n", flush=True)
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
