"""The index's SQLite connections: apsw with sqlite-vec loaded, WAL for a writable file, immutable for a
read-only one, and one reader connection per pool thread (an apsw connection is not shared across
threads that run queries at the same time). Owns them all so closing the index closes every one."""

import threading
from pathlib import Path
from urllib.parse import quote

import apsw
import sqlite_vec


class Connections:
    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._local = threading.local()
        self._connections: list[apsw.Connection] = []
        self._lock = threading.Lock()

    def open(self) -> apsw.Connection:
        """A new connection, kept for `close_all`."""
        if self.read_only:
            uri = f"file:{quote(str(self.path.resolve()))}?immutable=1"
            conn = apsw.Connection(uri, flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        else:
            conn = apsw.Connection(str(self.path))
        conn.set_busy_timeout(5000)
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
        if not self.read_only:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._connections.append(conn)
        return conn

    def reader(self) -> apsw.Connection:
        """The calling thread's own connection, opened on its first search."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.open()
        return conn

    def close_all(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
