"""Extension objects, created unbound and bound to an app in ``create_app``."""

import functools
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.sql import Executable

from backend.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address)

IDLE_PING_SECONDS = 10.0


def ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling for connections that sat idle in the pool: one that was
    checked in more than IDLE_PING_SECONDS ago is pinged at checkout, and a dead one is
    replaced before the request uses it (SQLAlchemy's "pessimistic, custom" recipe). Under
    load connections come back within milliseconds and skip the round trip; a database
    restart is found by the first checkout after a quiet spell."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:  # noqa: ARG001
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:  # noqa: ARG001
        idle_since = record.info.get("checked_in")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping(reconnect=False)
        except Exception as error:
            # the pool discards this connection and checks out (or opens) another
            raise exc.DisconnectionError(str(error)) from error


def rollback_only_when_open(engine: Engine) -> None:
    """Roll back a connection returned to the pool unless SQLAlchemy has just ended its
    transaction (committed or rolled back, nothing begun since).

    A Session that closes rolls its transaction back, then returns the connection, and the
    pool's default reset rolled back again: a second round trip on every request that read
    anything. This is SQLAlchemy's custom reset scheme (``pool_reset_on_return=None`` and a
    ``reset`` listener); a connection used through the raw DBAPI is still rolled back."""

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:  # noqa: ARG001
        record.info["ended"] = False

    @event.listens_for(engine, "begin")
    def _begun(conn) -> None:
        conn.connection.info["ended"] = False

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _ended(conn) -> None:
        if not conn.invalidated:  # a lost connection is discarded, not reset
            conn.connection.info["ended"] = True

    @event.listens_for(engine, "reset")
    def _reset(dbapi_connection, record, state) -> None:
        if not (state.terminate_only or record.info.get("ended")
                or dbapi_connection.get_autocommit()):  # autocommit: nothing is open
            dbapi_connection.rollback()


def limit_of(setting: str) -> Callable[[], str]:
    """A rate limit read from its setting (config/settings.py) at each request: every limit
    is a setting an operator can change, never a literal in a route."""
    return lambda: current_app.extensions["settings"].values[setting]


_AUTOCOMMIT: ContextVar[bool] = ContextVar("autocommit", default=False)


def autocommit_when_asked(engine: Engine) -> None:
    """Hand out a pooled MySQL connection in autocommit mode to :func:`autocommit_rows` and
    out of it to everyone else (the Session, raw DBAPI use), switching only when its last
    user wanted the other mode: pymysql reads the mode from the server's last reply and sends
    ``SET AUTOCOMMIT`` only on a change. With the engine's ``skip_autocommit_rollback`` an
    autocommit connection is not rolled back when it is closed or returned: there is no
    transaction to end."""

    @event.listens_for(engine, "checkout")
    def _mode(dbapi_connection, record, proxy) -> None:  # noqa: ARG001
        try:
            dbapi_connection.autocommit(_AUTOCOMMIT.get())
        except Exception as error:
            # the pool discards this connection and checks out (or opens) another
            raise exc.DisconnectionError(str(error)) from error


def engine_of(session: Session | scoped_session) -> Engine:
    """The engine ``session`` reads from; for the request's scoped session without making
    its Session (~0.05 ms of CPU a request to build and close one that is never used)."""
    return db.engine if session is db.session else session.get_bind()


def autocommit_rows(engine: Engine, statement: Executable, params: dict[str, Any]
                    ) -> Sequence[Sequence[Any]]:
    """The rows of one read that needs no transaction (it sees what is committed when it
    runs), as the driver returns them. On MySQL: a pooled connection in autocommit mode, so
    neither a BEGIN nor a ROLLBACK is sent (``autocommit_when_asked``), and the SQL compiled
    once straight to pymysql's cursor: SQLAlchemy's execution and result layers cost ~0.15 ms
    of CPU a statement, as much as the driver. A lost connection is invalidated and the
    error raised as SQLAlchemy's, as ``Connection.execute`` would. Elsewhere (SQLite)
    ``Connection.execute``."""
    if engine.dialect.name != "mysql":
        with engine.connect() as connection:
            return connection.execute(statement, params).all()
    sql, fixed = _compiled(engine.dialect, statement)
    token = _AUTOCOMMIT.set(True)
    try:
        connection = engine.raw_connection()
    finally:
        _AUTOCOMMIT.reset(token)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, fixed | params)
            return cursor.fetchall()
    except engine.dialect.loaded_dbapi.Error as error:
        lost = engine.dialect.is_disconnect(error, connection.dbapi_connection, None)
        if lost:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(sql, params, error, engine.dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost,
                                      dialect=engine.dialect) from error
    except BaseException:
        connection.invalidate()  # stopped half way: its state is unknown, not for the pool
        raise
    finally:
        connection.close()


@functools.lru_cache(maxsize=32)
def _compiled(dialect: Dialect, statement: Executable) -> tuple[str, dict[str, Any]]:
    """The SQL and the values it fixes itself (those the caller gives are left out)."""
    compiled = statement.compile(dialect=dialect)
    given = {name: None for bind, name in compiled.bind_names.items() if bind.required}
    return compiled.string, {name: value for name, value in compiled.construct_params(
        given).items() if name not in given}
