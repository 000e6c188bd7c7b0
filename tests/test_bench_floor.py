"""The rebuild's write floor (bench/baselines.py) stores what the views hold, indexes included.

A floor that wrote fewer rows or skipped an index would overstate the cap it puts on figure 6a.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.baselines import sqlite_table_copies, sqlite_write_floor


def _source(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE t (position INTEGER NOT NULL, key VARCHAR(9) NOT NULL, note TEXT,
                        PRIMARY KEY (position), UNIQUE (key));
        CREATE INDEX ix_t_note ON t (note, position);
        CREATE TABLE u (a VARCHAR(9) NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b));
        """
    )
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"k{i}", "n") for i in range(1, 51)])
    conn.executemany("INSERT INTO u VALUES (?, ?)", [("x", i) for i in range(30)])
    conn.commit()
    conn.close()


def _indexes(conn: sqlite3.Connection, table: str) -> set[tuple[bool, tuple[str, ...]]]:
    found = set()
    for _, name, unique, _, _ in conn.execute(f"PRAGMA index_list({table})").fetchall():
        cols = tuple(r[2] for r in conn.execute(f'PRAGMA index_info("{name}")').fetchall())
        found.add((bool(unique), cols))
    return found


def test_the_floor_writes_every_row_and_every_index(tmp_path: Path) -> None:
    _source(tmp_path / "views.db")
    copies = sqlite_table_copies(tmp_path / "views.db", ["t", "u"])

    rows, seconds = sqlite_write_floor(tmp_path / "floor.db", copies)

    assert rows == 80
    assert seconds > 0
    src, dst = sqlite3.connect(tmp_path / "views.db"), sqlite3.connect(tmp_path / "floor.db")
    for table in ("t", "u"):
        query = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert dst.execute(query).fetchall() == src.execute(query).fetchall()
        assert _indexes(dst, table) == _indexes(src, table)
    # the rowid key stays the rowid: no extra index for it
    assert (True, ("position",)) not in _indexes(dst, "t")
