"""One page of a work queue, with the total the console needs for its pager."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session


def page(session: Session, query: Select, *order_by, page: int, per_page: int,
         ) -> tuple[list, int]:
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(*order_by).offset((page - 1) * per_page)
                           .limit(per_page))
    return list(rows), total
