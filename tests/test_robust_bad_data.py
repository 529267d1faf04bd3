"""Bad data at the command line: the real `segbot train` on real files.

Every way a customers table or a transaction log can be wrong: the process exits
non-zero with one line on stderr that names the column or the problem
(no traceback, no warnings around it), and the model directory is as it was: a good
v1 was trained first, CURRENT still names it afterwards, no new version folder exists
and nothing is left behind.

The cases run as separate processes, a few at a time, in one module fixture (only those
of the test items selected); each case is then its own test item. The normal suite runs
the core cases (`named`) and those no other test covers at the command line; the other
variants (already covered in-process by test_load.py and test_transactions.py) are marked
`slow` and run with `-m slow` or `SEGBOT_LONG=1`.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from model.service import SegmentService
from model.versions.registry import Registry
from tests.conftest import make_settings, run_segbot, segbot_env

MALL = Path(__file__).parent / "data" / "mall_customers.csv"
ORDERS = "customer_id,date,amount\n"


@dataclass(frozen=True)
class Case:
    name: str
    expected: tuple[str, ...]  # fragments of the one line (after "segbot: ")
    text: str | None = None  # the file's content; None: `make` writes it, or no file
    suffix: str = ".csv"
    flags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    transactions: bool = False
    named: bool = False  # a core case: every release must refuse it this way
    # the only command-line case of its flag or file format: in the normal suite too
    unique: bool = False


def rows(n: int, start: int = 1) -> str:
    return "".join(f"{i},{20 + i % 50},{1000 * i}\n" for i in range(start, start + n))


CASES = [
    # ---- customers tables -------------------------------------------------------------
    Case("empty file", ("is empty",), text="", named=True),
    Case("header only", ("has no rows",), text="customer_id,age,income\n"),
    Case(
        "missing id column",
        ("id column 'customer_id' not found", "CustomerID", "SEGBOT_ID_COLUMN"),
        text=None,
        named=True,
    ),
    Case(
        "custom id column missing",
        ("id column 'client' not found", "customer_id, age, income"),
        text="customer_id,age,income\n" + rows(20),
        flags=("--id-column", "client"),
    ),
    Case(
        "duplicate ids",
        ("id column 'customer_id' has 1 duplicate id", "'7' on line 8, line 12"),
        text="customer_id,age,income\n" + rows(10) + "7,30,100\n",
        named=True,
    ),
    Case(
        "empty ids",
        ("id column 'customer_id' is empty in 1 row", "line 4"),
        text="customer_id,age,income\n1,20,3\n2,30,4\n,40,5\n4,50,6\n",
    ),
    Case(
        "no usable feature",
        ("no usable feature column", "Gender"),
        text="customer_id,Gender\n1,Male\n2,Female\n3,Male\n",
        named=True,
    ),
    Case(
        "all-missing column",
        ("feature column 'income' has no values: it is missing in every row",),
        text="customer_id,age,income\n1,20,\n2,30,\n3,40,\n4,50,\n",
        flags=("--features", "age,income"),
        named=True,
    ),
    Case(
        "text in a numeric column",
        ("column 'age' has text where numbers are expected in 2 rows", "'abc'", "'forty'"),
        text="customer_id,age,income\n"
        + rows(3)
        + "4,abc,10\n"
        + rows(4, 5)
        + "9,forty,10\n"
        + rows(3, 10),
        named=True,
    ),
    Case(
        "fewer rows than k",
        ("has 3 rows but SEGBOT_K / --k asks for 5 segments",),
        text="customer_id,age,income\n" + rows(3),
        flags=("--k", "5"),
        named=True,
    ),
    Case("a single row", ("only 1 row",), text="customer_id,age,income\n1,20,3\n"),
    Case(
        "unknown feature in --features",
        ("unknown feature 'Income' in SEGBOT_FEATURES / --features", "Annual Income (k$)"),
        text=None,
        flags=("--id-column", "CustomerID", "--features", "Age,Income"),
        named=True,
    ),
    Case(
        "unknown feature in SEGBOT_FEATURES",
        ("unknown feature 'spend'",),
        text="customer_id,age,income\n" + rows(20),
        env={"SEGBOT_FEATURES": "age,spend"},
    ),
    Case(
        "id column as a feature",
        ("'customer_id' is the id column",),
        text="customer_id,age,income\n" + rows(20),
        flags=("--features", "customer_id,age"),
    ),
    Case("data file not found", ("data file not found",), text=None, suffix=".missing.csv"),
    Case("unknown file type", ("unknown file type '.xlsx'",), text="a,b\n", suffix=".xlsx"),
    Case("not a Parquet file", ("Parquet",), text="customer_id,x\n1,2\n", suffix=".parquet"),
    Case(
        "bad --k",
        ("must be 'auto' or a whole number of segments",),
        text="customer_id,age,income\n" + rows(20),
        flags=("--k", "many"),
    ),
    # ---- transaction logs -----------------------------------------------------------------
    Case(
        "unparseable dates",
        ("date column 'date' has 1 value that is not a date (line 3: 'someday')",),
        text=ORDERS + "1,2024-01-01,3\n2,someday,4\n3,2024-02-01,5\n",
        transactions=True,
        named=True,
    ),
    Case(
        "unparseable amounts",
        ("amount column 'amount' has text where numbers are expected in 1 row", "'lots'"),
        text=ORDERS + "1,2024-01-01,3\n2,2024-01-02,lots\n3,2024-01-03,4\n4,2024-01-04,5\n",
        transactions=True,
        named=True,
    ),
    Case(
        "missing date column",
        ("date column 'date' not found", "SEGBOT_DATE_COLUMN"),
        text="customer_id,when,amount\n1,2024-01-01,3\n2,2024-01-02,4\n",
        transactions=True,
        named=True,
    ),
    Case(
        "missing amount column",
        ("amount column 'amount' not found", "SEGBOT_AMOUNT_COLUMN"),
        text="customer_id,date,total\n1,2024-01-01,3\n2,2024-01-02,4\n",
        transactions=True,
        named=True,
    ),
    Case(
        "renamed amount column missing",
        ("amount column 'price' not found",),
        text=ORDERS + "1,2024-01-01,3\n2,2024-01-02,4\n",
        flags=("--amount-column", "price"),
        transactions=True,
        unique=True,
    ),
    Case(
        "empty amounts",
        ("amount column 'amount' is empty in 1 row", "every purchase needs an amount"),
        text=ORDERS + "1,2024-01-01,3\n2,2024-01-02,\n",
        transactions=True,
    ),
    Case(
        "numbers for dates",
        ("date column 'date' holds numbers, not dates",),
        text=ORDERS + "1,20240101,3\n2,20240102,4\n",
        transactions=True,
    ),
    Case(
        "transactions: fewer customers than k",
        ("has purchases of 2 customers but SEGBOT_K / --k asks for 3 segments",),
        text=ORDERS + "1,2024-01-01,3\n2,2024-01-02,4\n1,2024-01-03,5\n",
        flags=("--k", "3"),
        transactions=True,
    ),
    Case("transactions: empty file", ("is empty",), text="", transactions=True),
    Case(
        "duplicate ids in Parquet",
        ("id column 'customer_id' has 1 duplicate id ('a' on row 1, row 3)",),
        suffix=".parquet",
        unique=True,
    ),
]


@dataclass
class Outcome:
    case: Case
    done: subprocess.CompletedProcess[str]
    root: Path
    before: list[str]


def prepare(case: Case, folder: Path, trained_model_dir: Path) -> tuple[list[str], Path]:
    folder.mkdir(parents=True)
    root = folder / "models"
    shutil.copytree(trained_model_dir, root)
    path = folder / f"data{case.suffix}"
    if case.name in ("missing id column", "unknown feature in --features"):
        shutil.copy(MALL, path)
    elif case.name == "duplicate ids in Parquet":
        pd.DataFrame({"customer_id": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]}).to_parquet(path)
    elif case.text is not None:
        path.write_text(case.text)
    args = ["train", "--data", str(path), "--model-dir", str(root), *case.flags]
    if case.transactions:
        args += ["--kind", "transactions"]
    return args, root


def run_case(case: Case, folder: Path, trained_model_dir: Path) -> Outcome:
    args, root = prepare(case, folder, trained_model_dir)
    before = sorted(p.name for p in root.iterdir())
    done = run_segbot(args, env=segbot_env(**case.env), cwd=folder, timeout=180)
    return Outcome(case, done, root, before)


NAMED = [c for c in CASES if c.named]
DEFAULT = [c for c in CASES if c.named or c.unique]
MORE = [c for c in CASES if not (c.named or c.unique)]


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path, request
) -> dict[str, Outcome]:
    """Every selected case of this module, run a few at a time."""
    base = tmp_path_factory.mktemp("bad-data")
    selected = {
        item.callspec.params["case"].name
        for item in request.session.items
        if item.module is request.module and hasattr(item, "callspec")
    }
    cases = [c for c in CASES if c.name in selected]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            c.name: pool.submit(run_case, c, base / f"case{i:02d}", trained_model_dir)
            for i, c in enumerate(cases)
        }
        return {name: f.result() for name, f in futures.items()}


def check(out: Outcome, customer_ids: list[str]) -> None:
    done = out.done
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line: no traceback, no warning around it
    line = lines[0]
    assert line.startswith("segbot: ") and "Traceback" not in line
    for fragment in out.case.expected:
        assert fragment in line, line
    assert done.stdout == ""

    # the served version is unchanged, and nothing new is on disk
    registry = Registry(out.root)
    assert registry.served() == "v1" and registry.versions() == ["v1"]
    assert (out.root / "CURRENT").read_text().strip() == "v1"
    assert sorted(p.name for p in out.root.iterdir()) == out.before
    answer = SegmentService(make_settings(out.root)).lookup(customer_ids[0])
    assert answer.version == "v1"


@pytest.mark.parametrize("case", DEFAULT, ids=[c.name for c in DEFAULT])
def test_bad_data_fails_with_one_line_and_changes_nothing(
    case: Case, outcomes: dict[str, Outcome], customer_ids: list[str]
) -> None:
    check(outcomes[case.name], customer_ids)


@pytest.mark.slow
@pytest.mark.parametrize("case", MORE, ids=[c.name for c in MORE])
def test_more_bad_data_long(
    case: Case, outcomes: dict[str, Outcome], customer_ids: list[str]
) -> None:
    check(outcomes[case.name], customer_ids)


def test_every_bad_data_case_we_promise_is_here() -> None:
    names = {c.name for c in NAMED}
    assert names == {
        "empty file",
        "missing id column",
        "duplicate ids",
        "no usable feature",
        "all-missing column",
        "text in a numeric column",
        "fewer rows than k",
        "unknown feature in --features",
        "unparseable dates",
        "unparseable amounts",
        "missing date column",
        "missing amount column",
    }
